"""Run the OpenRouter stand-in: python -m openrouter_mock --port 8081 [--host H] [--api-key KEY]."""

import argparse
import contextlib
import signal
import sys
import threading

from .server import MockOpenRouter


def main(argv=None) -> int:
    """Parse arguments, start the mock, print its base URL and serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m openrouter_mock", description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", default=None, help="the only Bearer key accepted (default: any key)")
    parser.add_argument("--max-records", type=int, default=10000, help="recorded requests kept (oldest dropped)")
    args = parser.parse_args(argv)
    mock = MockOpenRouter(api_key=args.api_key, host=args.host, port=args.port, max_records=args.max_records)
    mock.start()
    print(mock.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    mock.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
