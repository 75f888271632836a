"""PROFILE.md from py-spy's raw (collapsed) stacks of one gateway worker."""

import collections
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
# Inclusive buckets for PROFILE.md: a sample counts when a frame of its stack matches and none matches the
# optional exclusion.
BUCKETS = (
    ("the whole Flask request (ProxyFix → view → after_request)", "Flask.wsgi_app"),
    ("JWT check (flask-jwt-extended + PyJWT)", "authenticate (webapp/auth.py"),
    ("rate limit (flask-limiter, moving window)", "Limiter._check_request_limit"),
    ("body validation (marshmallow fields)", "validate_input (schemas/common.py"),
    ("upstream call (urllib3 pool)", "OpenRouterClient.post_chat"),
    ("  of which waiting for and parsing the answer (getresponse)", "HTTPConnection.getresponse (urllib3"),
    ("access log line (logs.finish_request write_line)", "finish_request.<locals>.write_line"),
    ("request id + clock (logs.start_request)", "start_request (webapp/logs.py"),
    ("in-memory moving window (services/quota_storage.py)", "LeanMemoryStorage"),
    ("metrics (prometheus-client)", "observe_request (core/metrics.py"),
    ("gunicorn around the app (parse the request, write the response)", "AsyncWorker.handle (", "Flask.wsgi_app"),
    ("gevent's loop (accept, poll, switch)", "Hub.run", "AsyncWorker.handle ("),
)


def profile_lines(raw_path, top=15):
    """Own and total time per function from py-spy's raw (collapsed) output, as Markdown tables."""
    own, total, samples = collections.Counter(), collections.Counter(), 0
    stacks = []
    # A frame may print a multi-line repr, so a stack ends at the line ending in its sample count.
    for line in re.findall(r".*?\) \d+$", raw_path.read_text(), re.M | re.S):
        stack, _, count = line.strip().rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        samples += int(count)
        own[frames[-1]] += int(count)
        stacks.append((frames, int(count)))
        for frame in set(frames):
            total[frame] += int(count)
    rows = [
        f"{samples:,} samples of the worker thread holding the GIL (py-spy `--gil`, 200 Hz, 10 s).",
        "",
        "| own % | total % | function (file) |",
        "|---|---|---|",
    ]
    rows += [f"| {100 * c / samples:.1f} | {100 * total[f] / samples:.1f} | `{f}` |" for f, c in own.most_common(top)]
    rows += [
        "",
        "Where a request's CPU time goes (inclusive: a sample counts when any frame of its stack matches):",
        "",
        "| part | % of samples |",
        "|---|---|",
    ]
    return rows + bucket_rows(BUCKETS, stacks, samples)


def bucket_rows(buckets, stacks, samples):
    """A table row per bucket: the share of samples with a frame matching its needle and none its exclusions."""
    rows = []
    for label, needle, *exclude in buckets:
        hits = sum(
            c
            for frames, c in stacks
            if any(needle in f for f in frames) and not any(x in f for x in exclude for f in frames)
        )
        rows.append(f"| {label} | {100 * hits / samples:.1f} |")
    return rows


# While relaying streams: inclusive buckets, as above.
STREAM_BUCKETS = (
    ("relaying events (the response body: read, relay, write)", "_counted (blueprints/model_answers.py"),
    ("  reading the upstream (chunked reads, socket waits)", "_arrivals (upstream/streaming.py"),
    ("  the relay's own work (event boundaries, data line, parsing)", "relay (upstream/streaming.py", "_arrivals ("),
    ("  writing to the client (gunicorn's chunked write)", "Response.write (gunicorn/http/wsgi.py"),
    ("starting streams (the Flask request up to the first byte)", "Flask.wsgi_app"),
    ("gevent's loop (poll, timers, switches)", "Hub.run"),
    ("gevent's timer around each socket wait (a read timeout between bytes)", "(gevent/timeout.py"),
)


def stream_profile_lines(raw_path, streams):
    """Where the worker's time goes while relaying `streams` streams, from py-spy's raw stacks."""
    stacks, samples = [], 0
    for line in raw_path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            stacks.append((stack.split(";") if stack else [], int(count)))
            samples += int(count)
    if not samples:
        return []
    rows = [
        f"## Profile of the worker relaying {streams} streams (100 events 20 ms apart each)",
        "",
        f"py-spy, as above, for 4 s of the streams-sustained scenario: {samples:,} samples.",
        "",
        "| part | % of samples |",
        "|---|---|",
    ]
    rows += bucket_rows(STREAM_BUCKETS, stacks, samples)
    bare = sum(c for frames, c in stacks if not frames)
    rows.append(f"| no Python frame (gevent's loop and greenlet switches in C) | {100 * bare / samples:.1f} |")
    return rows


def write_profile(results):
    raw = OUT / "profile.txt"
    memory = results["embedded"]["memory"]
    if not raw.exists() or not memory["profile_ok"]:
        return [f"py-spy did not produce a profile: {memory.get('profile_log')}"]
    lines = [
        "# Profile of one gateway worker (embedded mode, 16 connections)",
        "",
        "Recorded by `make bench` during the memory phase: `py-spy record --pid <worker> --duration 10 "
        "--rate 200 --gil --nonblocking --format raw`. Raw stacks: bench/out/profile.txt.",
        "",
    ]
    lines += profile_lines(raw)
    errors = []
    streams_raw = OUT / "profile-streams.txt"  # capacity.py, while the gateway relays 512 streams
    if streams_raw.exists():
        lines += ["", *stream_profile_lines(streams_raw, 512)]
    else:
        errors.append("py-spy did not profile the streams-sustained scenario")
    memory_md = OUT / "memory_profile.md"  # bench/memory_profile.py's output
    if memory_md.exists() and memory_md.read_text().strip():
        lines += ["", *memory_md.read_text().splitlines()]
    else:
        errors.append("bench/memory_profile.py produced no memory profile")
    (HERE / "PROFILE.md").write_text("\n".join(lines) + "\n")
    return errors
