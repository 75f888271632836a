"""One benchmark phase against a running upstream and gateway; writes its figures as JSON.

Direct and gateway runs are interleaved (direct, gateway, direct, …) so that both see the same machine noise.
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jwt
import orjson
from streams import compare

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
LUA = HERE / "post.lua"
STREAM_CHUNKS = 50
RESULT = re.compile(r"^BENCH_RESULT (.*)$", re.M)


def mint_token(secret):
    """An HS256 bearer token for the gateway, valid for an hour."""
    return jwt.encode({"sub": "bench-user", "exp": int(time.time()) + 3600}, secret, algorithm="HS256")


class Runner:
    """Runs wrk and keeps every command and its full output in out/wrk.log."""

    def __init__(self, urls, token):
        self.urls, self.token, self.errors = urls, token, []
        self.log = open(OUT / "wrk.log", "a")  # noqa: SIM115

    def wrk(self, target, connections, seconds, threads=2):
        """One wrk run against 'direct' or 'gateway'; its figures, or an error recorded."""
        threads = min(threads, connections)
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(LUA),
            self.urls[target],
        ]
        env = {**os.environ, "BENCH_TOKEN": self.token if target == "gateway" else ""}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 30)
        self.log.write(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}\n")
        self.log.flush()
        found = RESULT.search(proc.stdout)
        if proc.returncode != 0 or not found:
            self.errors.append(f"wrk failed against {target}: {proc.stderr.strip() or proc.stdout[-300:]}")
            return None
        result = orjson.loads(found[1])
        result.update(target=target, connections=connections, rps=result["requests"] / result["duration_us"] * 1e6)
        self._check(result)
        return result

    def _check(self, result):
        bad = {k: result[k] for k in ("non2xx", "not200", "connect", "read", "write", "timeout") if result[k]}
        if bad:
            self.errors.append(
                f"{result['target']} at {result['connections']} connections: {bad} of {result['requests']} requests"
            )

    def interleaved(self, connections, seconds, rounds):
        """`rounds` × (direct, gateway) at one connection count: {'direct': [...], 'gateway': [...]}."""
        runs = {"direct": [], "gateway": []}
        for _ in range(rounds):
            for target in runs:
                result = self.wrk(target, connections, seconds, threads=1 if connections == 1 else 2)
                if result:
                    runs[target].append(result)
        return runs

    def until(self, target, connections, total, step_s=2, max_s=100):
        """Repeated short wrk runs until at least `total` requests were answered (or `max_s` passed); the count."""
        done, deadline = 0, time.monotonic() + max_s
        while done < total and time.monotonic() < deadline:
            result = self.wrk(target, connections, step_s)
            if result is None or result["requests"] == 0:
                break
            done += result["requests"]
        return done


def workers_of(master):
    """The gunicorn worker processes: the master's children."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            children.append(int(stat.parent.name))
    return sorted(children)


def rss_mb(pid):
    """Resident memory in MB (10^6 bytes) from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    return None


def cpu_seconds(pid):
    """User + system CPU time a process has used, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_and_profile(runner, master, upstream_pid, profile_s):
    """RSS of each worker after a warm-up and after 20,000 more requests (with the CPU each process spent on
    them); py-spy samples one worker meanwhile."""
    workers = workers_of(master)
    warm = runner.until("gateway", 16, 1000, step_s=1)
    before = {pid: rss_mb(pid) for pid in workers}
    cpu = {"gateway": cpu_seconds(workers[0]), "upstream": cpu_seconds(upstream_pid)}
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(workers[0]),
            "--duration",
            str(profile_s),
            "--rate",
            "200",
            "--gil",
            "--nonblocking",
            "--format",
            "raw",
            "-o",
            str(OUT / "profile.txt"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = runner.until("gateway", 16, 20000, step_s=3)
    cpu_ms = {
        name: (cpu_seconds(pid) - cpu[name]) * 1000 / max(served, 1)
        for name, pid in (("gateway", workers[0]), ("upstream", upstream_pid))
    }
    spy_out = spy.communicate(timeout=profile_s + 30)[0]
    after = {pid: rss_mb(pid) for pid in workers}
    return {
        "cpu_ms_per_request": cpu_ms,
        "workers": workers,
        "warmup_requests": warm,
        "requests": served,
        "rss_warm_mb": before,
        "rss_after_mb": after,
        "profile_ok": spy.returncode == 0,
        "profile_log": spy_out.strip()[-400:],
    }


def stream_errors(runs, chunks=STREAM_CHUNKS):
    """A stream that did not answer 200, lost a chunk or ended without [DONE] fails the benchmark."""
    errors = []
    for target, results in runs.items():
        for index, run in enumerate(results):
            if run["status"] != 200 or not run["done"] or len(run["lags_s"]) != chunks:
                errors.append(
                    f"{target} stream {index}: status {run['status']}, [DONE] {run['done']}, "
                    f"{len(run['lags_s'])}/{chunks} chunks"
                )
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["embedded", "scaled"])
    parser.add_argument("--upstream", required=True, help="base URL of bench/fast_upstream.py")
    parser.add_argument("--gateway", required=True, help="base URL of the gateway")
    parser.add_argument("--master", type=int, required=True, help="gunicorn master pid")
    parser.add_argument("--upstream-pid", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    urls = {
        "direct": f"{args.upstream}/api/v1/chat/completions",
        "gateway": f"{args.gateway}/api/v2/openrouter/chat/completions",
    }
    runner = Runner(urls, mint_token(os.environ["JWT_SECRET_KEY"]))
    started = time.monotonic()
    result = {"mode": args.mode, "workers": workers_of(args.master)}
    if args.mode == "embedded":
        result["memory"] = memory_and_profile(runner, args.master, args.upstream_pid, profile_s=10)
        result["sequential"] = runner.interleaved(1, 5, args.rounds)
    workers, cpu_before = result["workers"], sum(cpu_seconds(pid) for pid in result["workers"])
    for connections in (16, 64):
        result[f"c{connections}"] = runner.interleaved(connections, 4, args.rounds)
    served = sum(r["requests"] for c in (16, 64) for r in result[f"c{c}"]["gateway"])
    result["throughput_cpu_ms_per_request"] = (
        (sum(cpu_seconds(pid) for pid in workers) - cpu_before) * 1000 / max(served, 1)
    )
    if args.mode == "embedded":
        result["streams"] = compare(urls["direct"], urls["gateway"], runner.token, chunks=STREAM_CHUNKS)
        runner.errors += stream_errors(result["streams"])
        # The same start of a stream with no pause before it: one-chunk streams back to back.
        result["streams_back_to_back"] = compare(urls["direct"], urls["gateway"], runner.token, count=40, chunks=1)
        runner.errors += stream_errors(result["streams_back_to_back"], chunks=1)
        result["memory"]["rss_end_mb"] = {pid: rss_mb(pid) for pid in result["memory"]["workers"]}
    result.update(errors=runner.errors, seconds=round(time.monotonic() - started, 1))
    (OUT / f"{args.mode}.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    print(f"{args.mode}: {result['seconds']} s, {len(runner.errors)} error(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
