"""python -m wan_video.emulator: serve the emulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from .server import EmulatorServer
from .settings import EmulatorSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wan_video.emulator",
        description="Serve a local DashScope look-alike for Wan video generation. "
        "Prints 'EMULATOR <api url>' once it accepts connections.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--run-seconds", type=float, help="seconds each task runs (default 2.0)")
    parser.add_argument("--pending-seconds", type=float, help="seconds each task waits first (default 0.2)")
    parser.add_argument("--time-scale", type=float, help="multiply pending and run times")
    parser.add_argument("--realistic", action="store_true", help="run for the catalog's typical times")
    parser.add_argument("--keys", help="extra accepted API keys, comma-separated")
    parser.add_argument("--no-limits", action="store_true", help="no rate or concurrency limits")
    parser.add_argument("--scenario", metavar="FILE", help="a JSON file of settings to start with")
    return parser


def _settings(args: argparse.Namespace) -> EmulatorSettings:
    overrides: dict[str, Any] = {}
    if args.scenario:
        with open(args.scenario, encoding="utf-8") as fh:
            overrides.update(json.load(fh))
    flags = {
        "run_seconds": args.run_seconds,
        "pending_seconds": args.pending_seconds,
        "time_scale": args.time_scale,
        "keys": args.keys,
        "realistic": True if args.realistic else None,
        "limits": False if args.no_limits else None,
    }
    overrides.update({k: v for k, v in flags.items() if v is not None})
    return EmulatorSettings().merged(overrides)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with EmulatorServer(port=args.port, settings=settings, host=args.host) as server:
        print(f"EMULATOR {server.api_url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
