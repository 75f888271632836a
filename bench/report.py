"""Turn bench/out/*.json into RESULTS.md, latency.png and PROFILE.md; exit 1 when any run recorded an error."""

import argparse
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson
from profile_table import write_profile

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PERCENTILES = ("50", "75", "90", "99", "99.9")
INTERVAL_MS, WITHIN_MS = 20, 2.0


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ms(us):
    return us / 1000


def fmt(value, digits=2, unit=""):
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def verdict(ok):
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def pct(runs, key):
    return median([r["percentiles_us"][key] for r in runs])


def added(runs, key):
    """Median over rounds of (gateway − direct) at percentile `key`, in ms (paired within a round)."""
    pairs = zip(runs["direct"], runs["gateway"], strict=False)  # a failed run leaves its round unpaired
    return median([ms(g["percentiles_us"][key] - d["percentiles_us"][key]) for d, g in pairs])


def sequential_section(seq):
    rows = ["| percentile | direct (ms) | gateway (ms) | added by the gateway (ms) |", "|---|---|---|---|"]
    for key in PERCENTILES:
        direct, gateway = pct(seq["direct"], key), pct(seq["gateway"], key)
        rows.append(f"| p{key} | {fmt(ms(direct), 3)} | {fmt(ms(gateway), 3)} | {fmt(added(seq, key), 3)} |")
    rps = median([r["rps"] for r in seq["gateway"]]), median([r["rps"] for r in seq["direct"]])
    rows.append(f"\nSequential calls per second: gateway {fmt(rps[0], 0)}, direct {fmt(rps[1], 0)}.")
    return rows


def throughput_rows(results):
    rows = [
        "| mode | connections | direct req/s | gateway req/s | gateway/direct | direct p99 (ms) | gateway p99 (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, data in results.items():
        for c in (16, 64):
            runs = data[f"c{c}"]
            d_rps, g_rps = median([r["rps"] for r in runs["direct"]]), median([r["rps"] for r in runs["gateway"]])
            ratio = g_rps / d_rps if d_rps and g_rps else None
            rows.append(
                f"| {mode} | {c} | {fmt(d_rps, 0)} | {fmt(g_rps, 0)} | {fmt(ratio, 3)} | "
                f"{fmt(ms(pct(runs['direct'], '99')), 2)} | {fmt(ms(pct(runs['gateway'], '99')), 2)} |"
            )
    return rows


def throughput_cpu(results):
    """The workers' CPU time per gateway request over the throughput runs, per mode."""
    parts = [
        f"{mode} {data['throughput_cpu_ms_per_request']:.2f} ms"
        for mode, data in results.items()
        if data.get("throughput_cpu_ms_per_request")
    ]
    return [f"CPU time per gateway request over these runs (all workers): {', '.join(parts)}.", ""] if parts else []


def stream_figures(streams):
    """TTFC p50 per target, added TTFC, and lag statistics over every content chunk, in ms."""
    out = {}
    for target, runs in streams.items():
        lags = sorted(lag * 1000 for run in runs for lag in run["lags_s"])
        out[target] = {
            "ttfc": median([r["first_chunk_s"] and r["first_chunk_s"] * 1000 for r in runs]),
            "p50": lags[len(lags) // 2] if lags else None,
            "p99": lags[int(0.99 * (len(lags) - 1))] if lags else None,
            "max": lags[-1] if lags else None,
            "chunks": len(lags),
            "held": sum(lag > INTERVAL_MS for lag in lags),
            "within": sum(lag <= WITHIN_MS for lag in lags),
        }
    d, g = out["direct"], out["gateway"]
    out["added_ttfc"] = g["ttfc"] - d["ttfc"] if g["ttfc"] is not None and d["ttfc"] is not None else None
    return out


def back_to_back_lines(spaced, runs):
    """The first chunk of streams started back to back, beside the same after the 50-chunk streams' pauses."""
    if not runs:
        return []
    warm = stream_figures(runs)
    d, g = spaced["direct"]["ttfc"], spaced["gateway"]["ttfc"]
    return [
        "",
        f"Back to back (40 one-chunk streams each way, no pause before each): first content chunk p50 direct "
        f"{fmt(warm['direct']['ttfc'], 3)} ms, gateway {fmt(warm['gateway']['ttfc'], 3)} ms, added "
        f"{fmt(warm['added_ttfc'], 3)} ms. After the 50-chunk streams, whose worker sat idle 20 ms between "
        f"chunks, the same start took {fmt(d / warm['direct']['ttfc'], 1)} × as long direct and "
        f"{fmt(g / warm['gateway']['ttfc'], 1)} × through the gateway: on this shared machine every process runs "
        "slower for a moment after a pause, and the gateway has more code to run than the upstream.",
    ]


def stream_rows(figures):
    rows = ["| | direct | gateway |", "|---|---|---|"]
    d, g = figures["direct"], figures["gateway"]
    for label, key in (
        ("time to first content chunk, p50 (ms)", "ttfc"),
        ("chunk lag p50 (ms)", "p50"),
        ("chunk lag p99 (ms)", "p99"),
        ("chunk lag max (ms)", "max"),
    ):
        rows.append(f"| {label} | {fmt(d[key], 3)} | {fmt(g[key], 3)} |")
    for label, key in (
        ("content chunks received", "chunks"),
        (f"chunks within {WITHIN_MS:g} ms", "within"),
        (f"chunks later than one interval ({INTERVAL_MS} ms)", "held"),
    ):
        rows.append(f"| {label} | {d[key]} | {g[key]} |")
    return rows


def memory_rows(memory):
    rows = [
        "| worker pid | RSS after warm-up (MB) | after +20,000 requests (MB) | growth | at the end (MB) |",
        "|---|---|---|---|---|",
    ]
    for pid in memory["workers"]:
        warm, after = memory["rss_warm_mb"][str(pid)], memory["rss_after_mb"][str(pid)]
        end = memory.get("rss_end_mb", {}).get(str(pid))
        rows.append(
            f"| {pid} | {fmt(warm, 1)} | {fmt(after, 1)} | {fmt(growth(warm, after), 2, ' %')} | {fmt(end, 1)} |"
        )
    return rows


def cpu_lines(memory):
    """CPU time per request over the memory phase: a figure the machine's load barely moves."""
    cpu = memory.get("cpu_ms_per_request") or {}
    gateway, upstream = cpu.get("gateway"), cpu.get("upstream")
    if not gateway:
        return []
    return [
        f"CPU time per request over those {memory['requests']:,} requests: gateway worker {gateway:.3f} ms "
        f"(so at most ~{1000 / gateway:,.0f} req/s per fully used core), upstream {fmt(upstream, 3)} ms."
    ]


def growth(before, after):
    return (after - before) / before * 100 if before and after else None


def targets(emb, scaled, streams):
    """(target, figure, met?) for every target the gateway is judged against."""
    seq = emb["sequential"]
    p50, p99 = added(seq, "50"), added(seq, "99")
    rate = median([r["rps"] for r in emb["c16"]["gateway"]])
    scaled_rate = median([r["rps"] for r in scaled["c16"]["gateway"]]) if scaled else None
    mem = emb["memory"]
    rss = max(list(mem["rss_after_mb"].values()) + list(mem.get("rss_end_mb", {}).values()))
    idle = max(mem["rss_warm_mb"].values())
    grow = max(growth(mem["rss_warm_mb"][str(p)], mem["rss_after_mb"][str(p)]) for p in mem["workers"])
    d, g = streams["direct"], streams["gateway"]
    return [
        ("embedded: added latency p50, sequential ≤ 2.0 ms", f"{fmt(p50, 3)} ms", p50 <= 2.0),
        ("embedded: added latency p99, sequential ≤ 4 ms", f"{fmt(p99, 3)} ms", p99 <= 4.0),
        ("embedded: ≥ 500 req/s at 16 connections", f"{fmt(rate, 0)} req/s", rate >= 500),
        (
            "scaled out (2 workers, Redis): ≥ 1,000 req/s at 16 connections",
            f"{fmt(scaled_rate, 0)} req/s",
            None if scaled_rate is None else scaled_rate >= 1000,
        ),
        (
            "streaming: added time to first chunk ≤ 2.5 ms",
            f"{fmt(streams['added_ttfc'], 3)} ms",
            streams["added_ttfc"] is not None and streams["added_ttfc"] <= 2.5,
        ),
        (
            f"streaming: no chunk held back (none later than one {INTERVAL_MS} ms interval)",
            f"{g['held']} of {g['chunks']} later; max lag {fmt(g['max'], 3)} ms",
            g["chunks"] > 0 and not g["held"],
        ),
        (
            f"streaming: every chunk within {WITHIN_MS:g} ms of leaving the upstream",
            f"{g['within']}/{g['chunks']} (direct: {d['within']}/{d['chunks']}); p99 lag {fmt(g['p99'], 3)} ms",
            g["chunks"] > 0 and g["within"] == g["chunks"],
        ),
        ("memory: ≤ 60 MB RSS per worker (gthread's target)", f"{fmt(rss, 1)} MB (largest worker)", rss <= 60),
        ("memory: ≤ 70 MB RSS per gevent worker idle (after warm-up)", f"{fmt(idle, 1)} MB", idle <= 70),
        ("memory: growth ≤ 5 % over 20,000 requests", f"{fmt(grow, 2)} % ({mem['requests']:,} requests)", grow <= 5),
    ]


def machine():
    """lscpu's model name and CPU count, memory, load, and tool versions."""
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    cpus, cores, threads = (
        re.search(rf"^{name}:\s*(\d+)$", lscpu, re.M)
        for name in (r"CPU\(s\)", r"Core\(s\) per socket", r"Thread\(s\) per core")
    )
    mem_kb = int(re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())[1])
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    gunicorn = subprocess.run(
        [str(Path(sys.executable).parent / "gunicorn"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    count = lambda found: found[1] if found else "?"  # noqa: E731
    return [
        f"- CPU (lscpu): {model[1] if model else 'unknown'}; {count(cpus)} CPUs ({count(cores)} cores per "
        f"socket, {count(threads)} threads per core)",
        f"- memory: {mem_kb / 1024 / 1024:.1f} GiB; load average (1, 5, 15 min) at the start: {load('start')}, "
        f"at the end: {load()}",
        f"- Python {platform.python_version()}, {gunicorn}, {(wrk.stdout + wrk.stderr).splitlines()[0]}",
    ]


def load(when=None):
    path = OUT / "loadavg-start" if when else Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "n/a"


def chart(results, path):
    """Latency percentiles, direct vs gateway: sequential, and 16 connections in each mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("sequential (1 connection), embedded", results["embedded"]["sequential"])]
    panels += [(f"16 connections, {mode}", data["c16"]) for mode, data in results.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.2))
    for ax, (title, runs) in zip(axes, panels, strict=True):
        for target, style in (("direct", "o--"), ("gateway", "s-")):
            ax.plot(PERCENTILES, [ms(pct(runs[target], k)) for k in PERCENTILES], style, label=target)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (ms, log scale)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("Chat completion latency: straight to the upstream vs through the gateway (median of rounds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def results_md(results, seconds):
    emb, scaled = results["embedded"], results.get("scaled")
    streams = stream_figures(emb["streams"])
    up = median([r["rps"] for r in emb["c16"]["direct"]]) / median([r["rps"] for r in emb["c16"]["gateway"]])
    lines = [
        "# Benchmark: what the gateway adds to a call",
        "",
        f"Run on {time.strftime('%Y-%m-%d %H:%M %Z')} by `make bench` (= `./bench/run.sh`), {seconds} s in all.",
        "Every figure compares the gateway with a direct call to the same upstream measured in the same run,",
        "interleaved (direct, gateway, direct, …; 3 rounds, median round), because the machine is shared.",
        "",
        "## Machine",
        "",
        *machine(),
        "",
        "## Targets",
        "",
        "| target | figure | verdict |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {figure} | {verdict(ok)} |" for name, figure, ok in targets(emb, scaled, streams)]
    lines += [
        "",
        "## Sequential calls, embedded (`wrk -t1 -c1 -d5s --latency`)",
        "",
        *sequential_section(emb["sequential"]),
        "",
        "## Throughput (`wrk -t2 -c16|-c64 -d4s --latency`)",
        "",
        *throughput_rows(results),
        "",
        *throughput_cpu(results),
        f"The upstream is not the bottleneck: straight to it, 16 connections get {up:,.0f}× the gateway's "
        "rate (and it shares the 2 CPUs with the gateway and wrk).",
        "",
        "## Streams, embedded (20 sequential streams each way, 50 chunks 20 ms apart)",
        "",
        *stream_rows(streams),
        "",
        f"Added time to the first content chunk (p50): {fmt(streams['added_ttfc'], 3)} ms. A chunk's lag is its "
        "arrival at the client minus the `sent_at` the upstream wrote into it.",
        *back_to_back_lines(streams, emb.get("streams_back_to_back")),
        "",
        "## Memory, embedded (one worker, `VmRSS` of each gunicorn worker)",
        "",
        *memory_rows(emb["memory"]),
        "",
        *cpu_lines(emb["memory"]),
        "",
        "## How it was run",
        "",
        "- upstream: `bench/fast_upstream.py` (asyncio, keep-alive, fixed 874-byte completion; SSE when asked)",
        "- gateway: `.venv/bin/gunicorn -c gunicorn.conf.py` from the repo root, `GATEWAY_ENV=production`, "
        "INFO logging to a file, quotas on "
        "(`RATELIMIT_CHAT`/`RATELIMIT_STREAMING=10000000/minute`, `MAX_CONCURRENT_PER_USER=1000`); embedded: "
        "no `REDIS_URL` (1 worker, in-memory quotas); scaled out: a private redis-server, `WEB_CONCURRENCY=2`",
        "- load: `wrk --latency -s bench/post.lua` (POST of a 74-byte chat body with a bearer token); every "
        "command and its output is in bench/out/wrk.log; streams: `bench/streams.py` (raw socket)",
        "- memory: RSS after ~1,000 warm-up requests, then after 20,000 more at 16 connections; CPU per "
        "request from `/proc/<pid>/stat` over the same requests",
        *redis_line(),
    ]
    errors = [f"- {mode}: {e}" for mode, data in results.items() for e in data["errors"]]
    if errors:
        lines += ["", "## Errors (the benchmark failed)", "", *errors]
    return lines, errors


def redis_line():
    stats = OUT / "redis-stats.txt"
    text = stats.read_text().strip() if stats.exists() else ""
    return [f"- scaled out used Redis for its quotas: `{text}` on the bench's redis-server"] if text else []


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=0, help="the whole run's duration, for the report")
    args = parser.parse_args()
    results = {}
    for mode in ("embedded", "scaled"):
        path = OUT / f"{mode}.json"
        if not path.exists():
            print(f"bench: {path} is missing (that phase failed)", file=sys.stderr)
            return 1
        results[mode] = orjson.loads(path.read_bytes())
    lines, errors = results_md(results, args.seconds)
    capacity = OUT / "capacity.md"
    if capacity.exists():
        lines += ["", *capacity.read_text().splitlines()]
        errors += [f"capacity: {e}" for e in orjson.loads((OUT / "capacity.json").read_bytes())["errors"]]
    else:
        errors.append("capacity: bench/out/capacity.md is missing (that phase failed)")
    errors += write_profile(results)
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
    chart(results, HERE / "latency.png")
    print("\n".join(lines))
    for error in errors:
        print(f"bench: FAILED: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
