"""The capacity scenarios of one gevent worker, each beside the direct upstream in the same run:

- fast path at 16 connections: direct, the stack's floor (bench/floor_app.py, gthread) and the gateway;
- slow calls: the upstream answers after 1 s; 256 and 1,000 callers for 10 s (wrk): req/s, p50, p99, errors,
  and the worker's RSS at peak minus idle divided by the calls in flight, for the gateway and for the stack's
  floor under the same gevent worker;
- streams sustained: N streams of 100 events 20 ms apart, starts spread over 2 s; a stream stalls when its
  first event comes more than 250 ms after it was sent or two events are more than 100 ms apart.
Writes out/capacity.json and out/capacity.md (report.py adds it to RESULTS.md).
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
from measure import OUT, Runner, cpu_seconds, mint_token, rss_mb, workers_of

HERE = os.path.dirname(os.path.abspath(__file__))
STALL_FIRST_S, STALL_GAP_S = 0.25, 0.1
PROFILED_STREAMS = 512


class PeakRss:
    """Samples a process's RSS every 0.1 s while running."""

    def __init__(self, pid):
        self.pid, self.peak, self._stop = pid, rss_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, rss_mb(self.pid) or 0)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def fresh_worker(runner, target, master, worker):
    """Replace `master`'s worker with a new one and warm it (2,000 fast calls at 16 connections): its pid.

    A worker's heap keeps what a burst of calls grew it by, so the memory per call in flight is measured on a
    worker that has served calls but never held a burst: each count then pays for its own calls."""
    os.kill(worker, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        fresh = [pid for pid in workers_of(master) if pid != worker]
        if fresh:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"{target}: gunicorn started no new worker")
    runner.until(target, 16, 2000)  # queued in the listen backlog until the new worker accepts
    time.sleep(0.5)
    return fresh[0]


def slow_calls(runner, masters, seconds, callers):
    """wrk against a 1 s upstream: direct, the floor under gevent and the gateway; the memory per call in flight
    of the floor's worker and the gateway's, each count on a fresh worker."""
    out = {}
    workers = {target: workers_of(master)[0] for target, master in masters.items()}
    for count in callers:
        for target, master in masters.items():
            workers[target] = fresh_worker(runner, target, master, workers[target])
        os.environ["BENCH_CONTENT"] = "delay=1000"
        try:
            out[count] = {"direct": runner.wrk("direct", count, seconds)}
            for target in ("floor_gevent", "gateway"):
                idle = rss_mb(workers[target])
                with PeakRss(workers[target]) as peak:
                    out[count][target] = runner.wrk(target, count, seconds)
                out[count][f"{target}_kb_per_call"] = (peak.peak - idle) * 1000 / count
        finally:
            os.environ.pop("BENCH_CONTENT")
    return out


def streams_once(url, token, streams, processes):
    """`streams` streams from `processes` generator processes: per-stream results and the generators' CPU."""
    shares = [streams // processes + (1 if i < streams % processes else 0) for i in range(processes)]
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, os.path.join(HERE, "stream_load.py"), url, "--token", token, "--streams", str(n)],
            stdout=subprocess.PIPE,
        )
        for n in shares
        if n
    ]
    results, cpu = [], []
    for proc in procs:
        line = orjson.loads(proc.communicate(timeout=120)[0])
        results += line["streams"]
        cpu.append(line["cpu_s"])
    return results, {"generator_cpu_s": cpu, "wall_s": time.monotonic() - started}


def stall_free(result):
    return "error" not in result and result["first_s"] <= STALL_FIRST_S and result["max_gap_s"] <= STALL_GAP_S


def p99(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))] if values else None


def py_spy(pid, seconds, path):
    """py-spy recording `pid` for `seconds` (raw stacks of the thread holding the GIL) into `path`, started."""
    spy = Path(sys.executable).parent / "py-spy"
    command = [str(spy), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200", "--gil"]
    command += ["--nonblocking", "--format", "raw", "-o", str(path)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def streams_sustained(urls, token, counts, worker=None):
    """Per N and target: the share of stall-free streams, gaps, first events and the generators' load. The
    gateway's worker is profiled (py-spy) while it relays PROFILED_STREAMS streams."""
    out = {}
    for count in counts:
        out[count] = {}
        for target in ("direct", "gateway"):
            spy = None
            if target == "gateway" and count == PROFILED_STREAMS and worker:
                spy = py_spy(worker, 4, OUT / "profile-streams.txt")
            results, load = streams_once(urls[target], token if target == "gateway" else "", count, min(2, count))
            if spy is not None:
                spy.wait(timeout=30)
            gaps = [r["max_gap_s"] for r in results if "error" not in r]
            out[count][target] = {
                "stall_free": sum(stall_free(r) for r in results) / len(results),
                "errors": sum("error" in r for r in results),
                "p99_max_gap_ms": round(p99(gaps) * 1000, 1) if gaps else None,
                "p99_first_ms": round(p99([r["first_s"] for r in results if "error" not in r]) * 1000, 1)
                if gaps
                else None,
                **load,
            }
    return out


def errors_of(run):
    return sum(run[k] for k in ("non2xx", "not200", "connect", "read", "write", "timeout"))


def sustained_rate(count, run):
    return int(count) / (run["mean_us"] / 1e6)  # Little's law: callers / mean time of a call


def largest_stall_free(streams, target):
    counts = [int(c) for c, runs in streams.items() if runs[target]["stall_free"] >= 0.99]
    return max(counts) if counts else 0


def targets(result):
    """(target, figure, met?) for issue 11's targets of one worker; None where a run failed."""
    rows = []
    fast = result["fast"]
    if all(fast.values()):
        ratio = fast["gateway"]["rps"] / fast["floor"]["rps"]
        p50 = {t: (fast[t]["percentiles_us"]["50"] - fast["direct"]["percentiles_us"]["50"]) / 1000 for t in fast}
        rows += [
            ("fast path: ≥ 1.1 × the floor's req/s at 16 connections", f"{ratio:.2f} ×", ratio >= 1.1),
            (
                "fast path: added p50 no higher than the floor's",
                f"+{p50['gateway']:.1f} ms (floor +{p50['floor']:.1f} ms)",
                p50["gateway"] <= p50["floor"],
            ),
        ]
    for count, bounds in (("256", "≥ 240 req/s, p99 ≤ 1.3 s"), ("1000", "≥ 400 req/s, no errors")):
        run = result["slow"].get(count, {}).get("gateway")
        if not run:
            rows.append((f"slow calls, {count} callers: {bounds}", "failed", False))
            continue
        rate, p99, errors = sustained_rate(count, run), run["percentiles_us"]["99"] / 1e6, errors_of(run)
        figure = f"{rate:.0f} req/s sustained ({run['rps']:.0f} within wrk's 10 s), p99 {p99:.2f} s, {errors} errors"
        met = rate >= 240 and p99 <= 1.3 if count == "256" else rate >= 400 and not errors
        rows.append((f"slow calls, {count} callers: {bounds}", figure, met))
        kb = result["slow"][count].get("gateway_kb_per_call")
        floor = result["slow"][count].get("floor_gevent_kb_per_call")
        rows.append(
            (
                f"memory: ≤ 30 KB per call in flight ({count} callers)",
                f"{kb:.1f} KB (the floor under gevent: {floor:.1f} KB)",
                kb <= 30,
            )
        )
    n = largest_stall_free(result["streams"], "gateway")
    rows.append(
        ("streams sustained: ≥ 512", f"{n} (direct: {largest_stall_free(result['streams'], 'direct')})", n >= 512)
    )
    return rows


def markdown(result):
    ms = lambda us: f"{us / 1000:.1f} ms" if us is not None else "—"  # noqa: E731
    lines = ["## Capacity of one gevent worker", "", "### Issue 11's targets", ""]
    lines += ["| target | figure | verdict |", "|---|---|---|"]
    lines += [f"| {name} | {figure} | {'**met**' if ok else '**missed**'} |" for name, figure, ok in targets(result)]
    lines += [
        "",
        "Added time to the first chunk and idle memory per worker are judged in the targets above. Where the memory "
        f"per call in flight goes, and a worker's time while it relays {PROFILED_STREAMS} streams: bench/PROFILE.md.",
        "",
        "### Fast path, 16 connections",
        "",
    ]
    lines += ["| target | req/s | p50 | p99 |", "|---|---|---|---|"]
    for target, run in result["fast"].items():
        if run:
            p = run["percentiles_us"]
            lines.append(f"| {target} | {run['rps']:.0f} | {ms(p['50'])} | {ms(p['99'])} |")
    lines += ["", f"### Slow calls (upstream answers after 1 s), {result['seconds']} s each", ""]
    lines += [
        "| callers | target | req/s (wrk) | sustained req/s | p50 | p99 | errors | RSS per call in flight |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for count, runs in result["slow"].items():
        for target in ("direct", "floor_gevent", "gateway"):
            run = runs.get(target)
            if not run:
                lines.append(f"| {count} | {target} | failed | | | | | |")
                continue
            p = run["percentiles_us"]
            errors = errors_of(run)
            per_call = runs.get(f"{target}_kb_per_call")
            per_call = f"{per_call:.1f} KB" if per_call is not None else ""
            sustained = sustained_rate(count, run)
            lines.append(
                f"| {count} | {target} | {run['rps']:.0f} | {sustained:.0f} | {ms(p['50'])} | {ms(p['99'])} | "
                f"{errors} | {per_call} |"
            )
    lines += [
        "",
        "wrk's req/s counts the calls completed within its 10 s: with 1 s calls the tenth round of every caller ends "
        "just after, so even the direct upstream stays under 230 at 256 callers. The sustained rate is what the "
        "callers get in steady state (Little's law: callers / mean call time); 256 is what the work allows. "
        "floor_gevent is the chosen stack's bare floor (bench/floor_app.py) under the same gevent worker. RSS per "
        "call in flight is (peak − idle) / callers, for each count on a fresh worker warmed with 2,000 fast calls.",
    ]
    lines += ["", "### Streams sustained (100 events 20 ms apart, starts over 2 s)", ""]
    lines += [
        "| N | target | stall-free | p99 largest gap | p99 first event | errors | generator CPU / wall |",
        "|---|---|---|---|---|---|---|",
    ]
    for count, runs in result["streams"].items():
        for target, run in runs.items():
            load = f"{max(run['generator_cpu_s']):.1f} s / {run['wall_s']:.1f} s"
            lines.append(
                f"| {count} | {target} | {run['stall_free'] * 100:.1f} % | {run['p99_max_gap_ms']} ms | "
                f"{run['p99_first_ms']} ms | {run['errors']} | {load} |"
            )
    sustained = largest_stall_free(result["streams"], "gateway")
    lines += ["", f"Largest N with 99 % of the gateway's streams stall-free: {sustained}."]
    lines.append(
        f"The same generator against the direct upstream is 99 % stall-free up to N = "
        f"{largest_stall_free(result['streams'], 'direct')}: "
        "beyond that the machine or the generator, not the gateway, is the limit."
    )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--floor", required=True)
    parser.add_argument("--floor-gevent", required=True)
    parser.add_argument("--floor-gevent-master", type=int, required=True)
    parser.add_argument("--master", type=int, required=True)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--callers", default="256,1000")
    parser.add_argument("--streams", default="1,64,128,256,512,1024")
    args = parser.parse_args()
    path = "/api/v2/openrouter/chat/completions"
    urls = {"direct": f"{args.upstream}/api/v1/chat/completions", "gateway": args.gateway + path}
    urls["floor"], urls["floor_gevent"] = args.floor + path, args.floor_gevent + path
    runner = Runner(urls, mint_token(os.environ["JWT_SECRET_KEY"]))
    result = {"seconds": args.seconds, "fast": {t: runner.wrk(t, 16, 4) for t in ("direct", "floor", "gateway")}}
    masters = {"floor_gevent": args.floor_gevent_master, "gateway": args.master}
    result["slow"] = slow_calls(runner, masters, args.seconds, [int(c) for c in args.callers.split(",")])
    worker = workers_of(args.master)[0]
    cpu = cpu_seconds(worker)
    result["streams"] = streams_sustained(urls, runner.token, [int(c) for c in args.streams.split(",")], worker)
    result.update(errors=runner.errors, streams_worker_cpu_s=cpu_seconds(worker) - cpu)
    (OUT / "capacity.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    lines = markdown(orjson.loads(orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS)))
    (OUT / "capacity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
