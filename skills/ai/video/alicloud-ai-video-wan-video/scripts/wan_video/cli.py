"""The command line: subcommands, one JSON object on stdout, progress on stderr, exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .errors import EXIT_OK, InvalidRequest, WanVideoError

COMMANDS = ("generate", "submit", "wait", "status", "cancel", "list", "models", "doctor", "batch", "spend")
SCRIPT = "python scripts/generate_video.py"


def _seconds(text: str) -> float:
    """A finite, non-negative number (NaN would make a deadline that never passes)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as our JSON error (exit 2), not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InvalidRequest(f"command line: {message}", f"run `{SCRIPT} {self.prog.split()[-1]} --help`",
                             code="InvalidArguments")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--request", help="the request as a JSON object")
    src.add_argument("--file", help="a file holding the request JSON ('-' for stdin)")
    p.add_argument("--output", help="exact path of the delivered video")
    p.add_argument("--no-wait", action="store_true", help="submit, print the task id and return")
    p.add_argument("--dry-run", action="store_true",
                   help="validate and print the wire body, endpoint, cost and warnings; no key, no network")
    p.add_argument("--timeout", type=_seconds, default=None,
                   help="seconds to wait before returning exit 5 with the resume command (default 50)")
    p.add_argument("--max-cost", type=_seconds, default=None, help="refuse runs estimated above this many CNY")
    p.add_argument("--region", help="cn-beijing (default), ap-southeast-1 or us-east-1")
    p.add_argument("--workspace", help="workspace id (uses the workspace-scoped host)")
    p.add_argument("--force", action="store_true", help="submit anew even if this request ran before")
    p.add_argument("--print-response", action="store_true",
                   help="print the response JSON (the default output is the same JSON)")
    p.add_argument("--cancel-on-interrupt", action="store_true",
                   help="on Ctrl-C, cancel the task if it is still PENDING")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="generate_video.py",
                     description="Generate video with Alibaba Cloud Model Studio Wan models. "
                                 "Prints one JSON object on stdout.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, help_text in (("generate", "submit, wait, download and verify (the default)"),
                            ("submit", "submit and print the task id at once (generate --no-wait)")):
        _add_run_options(sub.add_parser(name, help=help_text))
    for name, help_text in (("wait", "resume waiting for a task, then download and verify"),
                            ("status", "one read-only status query"),
                            ("cancel", "cancel a PENDING task")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("task_id")
        p.add_argument("--region")
        p.add_argument("--workspace")
        p.add_argument("--timeout", type=_seconds, default=None)
        p.add_argument("--output")
        p.add_argument("--quiet", action="store_true")
        p.add_argument("--print-response", action="store_true")
    p = sub.add_parser("list", help="tasks of the account (last 24 h) and local task records")
    p.add_argument("--region")
    p.add_argument("--workspace")
    p.add_argument("--model")
    p.add_argument("--status")
    p.add_argument("--local", action="store_true", help="only the local records, no network")
    p = sub.add_parser("models", help="the model catalog")
    p.add_argument("--json", action="store_true", help="the whole catalog as JSON")
    p.add_argument("--region")
    p.add_argument("--kind", choices=["t2v", "i2v", "kf2v", "r2v"])
    p = sub.add_parser("doctor", help="read-only preflight: key, endpoint, auth, region, model")
    p.add_argument("--region")
    p.add_argument("--workspace")
    p.add_argument("--model")
    p = sub.add_parser("batch", help="many requests from a JSONL file within the account's limits")
    p.add_argument("file")
    p.add_argument("--concurrency", type=int, default=None)
    p.add_argument("--region")
    p.add_argument("--workspace")
    p.add_argument("--max-cost", type=_seconds, default=None)
    p.add_argument("--as-completed", action="store_true", help="print results as they finish")
    p.add_argument("--no-download", action="store_true",
                   help="record each finished task's URL without downloading (a later run downloads)")
    p.add_argument("--timeout", type=_seconds, default=None, help="overall seconds (default: none)")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--force", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p = sub.add_parser("spend", help="actual cost from the local ledger, by day and model")
    p.add_argument("--days", type=int, default=30)
    return parser


def emit(obj: dict[str, Any], compact: bool = False) -> None:
    """The one JSON object on stdout (compact for batch, whose lines precede it)."""
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, indent=None if compact else 2)
    except ValueError:  # a non-finite float slipped through: still valid JSON on stdout
        text = json.dumps(json.loads(json.dumps(obj, default=str).replace("NaN", "null")
                                     .replace("-Infinity", "null").replace("Infinity", "null")),
                          ensure_ascii=False, indent=None if compact else 2)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


MAX_REQUEST_BYTES = 32 << 20  # a request is a few KB, but may carry a data: URI image (20 MB as base64)


def _read_bounded(name: str) -> str:
    """A request file (or stdin), refusing devices, FIFOs and anything over the size cap."""
    import stat

    limit = MAX_REQUEST_BYTES
    if name == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        data = stdin.read(limit + 1) if stdin is not None else sys.stdin.read(limit + 1).encode("utf-8")
    else:
        path = Path(name)
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block, /dev/zero never ends
            raise InvalidRequest(f"--file: {name} is not a regular file", "give a JSON file",
                                 code="InvalidArguments")
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    if len(data) > limit:
        raise InvalidRequest(f"--file: {name} is larger than {limit} bytes", "a request is one JSON object; "
                             "pass large images by path or URL", code="InvalidArguments")
    return data.decode("utf-8")


def read_request(args: argparse.Namespace) -> Any:
    if args.request is None and args.file is None:
        raise InvalidRequest("no request given", "pass --request '{\"prompt\": \"...\"}' or --file PATH",
                             code="InvalidArguments")
    if args.file is not None:
        try:
            text = _read_bounded(args.file)
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidRequest(f"--file: cannot read {args.file}: {exc.__class__.__name__}",
                                 "give a readable UTF-8 JSON file", code="InvalidArguments") from None
    else:
        text = args.request
    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=no_constants)
    except ValueError as exc:
        if not isinstance(exc, json.JSONDecodeError):
            raise InvalidRequest(f"the request is not valid JSON: {exc}",
                                 "use finite numbers: JSON has no NaN or Infinity", code="InvalidJSON") from None
        raise InvalidRequest(f"the request is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                             "quote the JSON in single quotes on the shell: --request '{\"prompt\": \"...\"}'",
                             code="InvalidJSON") from None


def cmd_generate(args: argparse.Namespace, no_wait: bool) -> tuple[dict[str, Any], int]:
    from .request import normalize

    raw = read_request(args)
    req = normalize(raw, region=args.region, fetch_images=not args.dry_run)
    if args.dry_run:
        from .lifecycle import dry_run

        return dry_run(req, workspace=args.workspace, max_cost=args.max_cost), EXIT_OK
    from .lifecycle import RunOptions, generate

    opts = RunOptions(output=args.output, no_wait=no_wait or args.no_wait, timeout=args.timeout,
                      max_cost=args.max_cost, workspace=args.workspace, force=args.force,
                      quiet=args.quiet, cancel_on_interrupt=args.cancel_on_interrupt)
    return generate(req, opts)


def cmd_models(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    from .catalog import load_catalog
    from .cost import price

    catalog = load_catalog()
    if args.region and args.region not in catalog.regions:
        raise InvalidRequest(f"--region: unknown region {args.region!r}",
                             "use one of " + ", ".join(catalog.regions), code="InvalidArguments")
    rows = []
    for spec in catalog.models.values():
        if args.region and args.region not in spec.regions:
            continue
        if args.kind and spec.kind != args.kind:
            continue
        row: dict[str, Any] = {
            "model": spec.name, "kind": spec.kind, "listed": spec.listed,
            "regions": spec.regions, "submit_path": spec.submit_path, "protocol": spec.protocol,
            "tiers": spec.tiers, "durations": spec.durations, "default_duration": spec.default_duration,
            "fps": spec.fps, "audio": spec.audio, "prompt_max": spec.prompt_max,
            "negative_prompt_max": spec.negative_prompt_max,
            "limits": {r: dict(zip(("rps", "concurrency"), spec.limits(r), strict=False)) for r in spec.regions},
            "free_seconds": spec.free_seconds, "typical_run_seconds": spec.typical_run_seconds,
            "prices": {r: {t: price(spec, r, t, True) for t in spec.tiers} for r in spec.regions},
        }
        if spec.protocol in ("size", "references", "ratio"):
            row["sizes"] = spec.sizes(catalog)
            row["default_size"] = spec.default_size
        else:
            row["default_resolution"] = spec.default_tier
        if spec.price_silent:
            row["prices_silent"] = {r: {t: price(spec, r, t, False) for t in spec.tiers} for r in spec.regions}
        if spec.image:
            row["image_limits"] = spec.image
        if spec.last_frame:
            row["last_frame"] = spec.last_frame
        if spec.replacement:
            row["replacement"] = spec.replacement
        rows.append(row)
    out: dict[str, Any] = {"models": rows, "defaults": catalog.defaults, "default_region": catalog.default_region}
    if args.json:
        out["deprecated"] = catalog.deprecated
        out["unsupported"] = catalog.unsupported
        out["regions"] = catalog.regions
    return out, EXIT_OK


def run(argv: list[str]) -> tuple[dict[str, Any], int]:
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS + ("-h", "--help"):
        argv = ["generate", *argv]  # the seed's form: no subcommand means generate
    args = parser.parse_args(argv)
    command = args.command
    if command in ("generate", "submit"):
        return cmd_generate(args, no_wait=command == "submit")
    if command == "models":
        return cmd_models(args)
    from . import commands

    return commands.dispatch(command, args)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        result, code = run(argv)
    except WanVideoError as exc:
        result, code = {"error": exc.to_dict()}, exc.exit_code
    except KeyboardInterrupt:
        result, code = {"error": {"code": "Interrupted", "message": "interrupted before a task id was known",
                                  "hint": "run the same command again: a submit that was in flight is "
                                          "found through the task list before anything is sent again"}}, 130
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except Exception as exc:  # a bug: still one JSON object on stdout, the detail on stderr
        import traceback

        traceback.print_exc(file=sys.stderr)
        result = {"error": {"code": "InternalError", "message": f"{type(exc).__name__}: {exc}",
                            "hint": "a bug in the tool; the traceback is on stderr. If a task id was "
                                    "printed on stderr, `wait TASK_ID` resumes it"}}
        code = 1
    emit(result, compact=bool(argv) and argv[0] == "batch")
    return code


if __name__ == "__main__":
    sys.exit(main())
