"""gunicorn.conf.py plus tracemalloc in the worker, for bench/memory_profile.py.

The worker traces its allocations from the end of its start and writes a snapshot to
$BENCH_TRACEMALLOC_DIR/snapshot-<n> each time a file named `snapshot` appears there.
"""

import inspect
import os
import runpy

globals().update(runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "gunicorn.conf.py")))
_gateway_post_worker_init = post_worker_init  # noqa: F821 - defined by gunicorn.conf.py


def post_worker_init(worker):
    _gateway_post_worker_init(worker)
    import tracemalloc

    import gevent

    tracemalloc.start()
    gevent.spawn(_snapshots, os.environ["BENCH_TRACEMALLOC_DIR"])


def _snapshots(directory):
    import gc
    import json
    import tracemalloc

    import gevent
    import greenlet

    trigger, count = os.path.join(directory, "snapshot"), 0
    while True:
        gevent.sleep(0.05)
        if os.path.exists(trigger):
            os.unlink(trigger)
            path = os.path.join(directory, f"snapshot-{count}")
            tracemalloc.take_snapshot().dump(path + ".part")
            waiting = [g for g in gc.get_objects() if isinstance(g, greenlet.greenlet) and g.gr_frame is not None]
            with open(path + ".json", "w") as out:
                json.dump({"deepest_frames_bytes": max(map(_frames_bytes, waiting), default=0)}, out)
            os.rename(path + ".part", path)
            count += 1


def _frames_bytes(glet):
    """The bytes a switched-out greenlet's Python frames take on CPython 3.11's data stack (generators' frames
    live in the generator): per frame, 9 words of header, then locals, cells, free variables and the value stack."""
    total, frame = 0, glet.gr_frame
    while frame is not None:
        code = frame.f_code
        if not code.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR):
            total += 8 * (9 + code.co_nlocals + len(code.co_cellvars) + len(code.co_freevars) + code.co_stacksize)
        frame = frame.f_back
    return total
