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
import subprocess
import sys
import threading
import time

import orjson
from measure import OUT, Runner, cpu_seconds, mint_token, rss_mb, workers_of

HERE = os.path.dirname(os.path.abspath(__file__))
STALL_FIRST_S, STALL_GAP_S = 0.25, 0.1


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


def slow_calls(runner, workers, seconds, callers):
    """wrk against a 1 s upstream: direct, the floor under gevent and the gateway; the memory per call in flight
    of the floor's worker and the gateway's."""
    os.environ["BENCH_CONTENT"] = "delay=1000"
    out = {}
    try:
        for count in callers:
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


def streams_sustained(urls, token, counts):
    out = {}
    for count in counts:
        out[count] = {}
        for target in ("direct", "gateway"):
            results, load = streams_once(urls[target], token if target == "gateway" else "", count, min(2, count))
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


def markdown(result):
    ms = lambda us: f"{us / 1000:.1f} ms" if us is not None else "—"  # noqa: E731
    lines = ["## Capacity of one gevent worker", "", "### Fast path, 16 connections", ""]
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
            errors = sum(run[k] for k in ("non2xx", "not200", "connect", "read", "write", "timeout"))
            per_call = runs.get(f"{target}_kb_per_call")
            per_call = f"{per_call:.1f} KB" if per_call is not None else ""
            sustained = int(count) / (run["mean_us"] / 1e6)  # Little's law: callers / mean time of a call
            lines.append(
                f"| {count} | {target} | {run['rps']:.0f} | {sustained:.0f} | {ms(p['50'])} | {ms(p['99'])} | "
                f"{errors} | {per_call} |"
            )
    lines += [
        "",
        "wrk's req/s counts the calls completed within its 10 s: with 1 s calls the tenth round of every caller ends "
        "just after, so even the direct upstream stays under 230 at 256 callers. The sustained rate is what the "
        "callers get in steady state (Little's law: callers / mean call time); 256 is what the work allows. "
        "floor_gevent is the chosen stack's bare floor (bench/floor_app.py) under the same gevent worker.",
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
    sustained = [int(c) for c, runs in result["streams"].items() if runs["gateway"]["stall_free"] >= 0.99]
    lines += ["", f"Largest N with 99 % of the gateway's streams stall-free: {max(sustained) if sustained else 0}."]
    direct = [int(c) for c, runs in result["streams"].items() if runs["direct"]["stall_free"] >= 0.99]
    lines.append(
        f"The same generator against the direct upstream is 99 % stall-free up to N = {max(direct) if direct else 0}: "
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
    worker = workers_of(args.master)[0]
    cpu = cpu_seconds(worker)
    result = {"seconds": args.seconds, "fast": {t: runner.wrk(t, 16, 4) for t in ("direct", "floor", "gateway")}}
    workers = {"gateway": worker, "floor_gevent": workers_of(args.floor_gevent_master)[0]}
    result["slow"] = slow_calls(runner, workers, args.seconds, [int(c) for c in args.callers.split(",")])
    result["streams"] = streams_sustained(urls, runner.token, [int(c) for c in args.streams.split(",")])
    result.update(errors=runner.errors, worker_cpu_s=cpu_seconds(worker) - cpu)
    (OUT / "capacity.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    lines = markdown(orjson.loads(orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS)))
    (OUT / "capacity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
