"""Bad input, fuzzed: request JSON and command lines from hypothesis, through wan_video.cli.main.

For every example: stdout is exactly one JSON object, the exit code is a documented one ({0, 2,
3, 7} for a dry run), stderr has no traceback, the emulator (DASHSCOPE_BASE_URL) saw no request
at all, and no file changed anywhere under the test's folder. A request refused in a dry run
is then run for real, and must be refused the same way, still without a network call.

Profiles: `reliability-quick` (about 300 examples in all, the default) and `reliability-long`
(10,000+, WAN_VIDEO_LONG=1). `--help`, `batch` (one JSON line per item by design) and `list`
without --local are left out of the vocabulary.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest_helpers import SCRIPT, patched_env
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from reliability_support import KEY, LONG, snapshot

QUICK = "reliability-quick"
LONG_PROFILE = "reliability-long"
settings.register_profile(QUICK, max_examples=60, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile(LONG_PROFILE, parent=settings.get_profile(QUICK), max_examples=2040, derandomize=False)
PROFILE = settings.get_profile(LONG_PROFILE if LONG else QUICK)
DRY_RUN_EXITS = {0, 2, 3, 7}


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 160)).save(out, "PNG")
    return out.getvalue()


class World:
    """The fuzzed user's folder: prepared files, environment, and the emulator to watch."""

    def __init__(self, root: Path, emulator: Any) -> None:
        self.root, self.emulator = root, emulator
        files = root / "files"
        (root / "home" / ".ssh").mkdir(parents=True)
        files.mkdir()
        (files / "good.png").write_bytes(_png(320, 240))
        (files / "tiny.png").write_bytes(_png(64, 64))
        (files / "notes.txt").write_text("just some notes\n")
        (files / "empty.png").write_bytes(b"")
        (files / "key.json").write_text(json.dumps({"api_key": "sk-fuzzsecret0123456789"}))
        (files / "request.json").write_text(json.dumps({"prompt": "a kite", "model": "wanx2.1-t2v-turbo"}))
        (files / "bad.json").write_text("{not json")
        (files / "folder").mkdir()
        os.mkfifo(files / "pipe")  # as --file or an image: refused, never opened for reading
        (root / "home" / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n")
        self.paths = [str(p) for p in sorted(files.iterdir())] + ["~/.ssh/id_rsa", str(files / "missing.png"),
                                                                  "/dev/zero"]
        self.env = {"DASHSCOPE_BASE_URL": emulator.api_url, "DASHSCOPE_API_KEY": KEY,
                    "OUTPUT_DIR": str(root / "out"), "HOME": str(root / "home"),
                    "DASHSCOPE_REGION": "", "WAN_VIDEO_REGION": "", "DASHSCOPE_WORKSPACE": "",
                    "DASHSCOPE_HTTP_BASE_URL": "", "ALIBABA_CLOUD_PROFILE": ""}

    def call(self, argv: list[str], stdin: str = "") -> tuple[int, str, str]:
        """main(argv) with this world's environment and stdin; (exit code, stdout, stderr)."""
        from wan_video.cli import main

        out, err = io.StringIO(), io.StringIO()
        saved_stdin = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            with patched_env(self.env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
        finally:
            sys.stdin = saved_stdin
        return code, out.getvalue(), err.getvalue()

    def check(self, argv: list[str], allowed: set[int], stdin: str = "") -> tuple[int, dict[str, Any]]:
        """Run argv and assert every invariant; returns (exit code, the JSON object)."""
        self.emulator.reset()
        before = snapshot(self.root)
        code, out, err = self.call(argv, stdin)
        obj = json.loads(out)  # exactly one JSON value: a second one would not parse
        assert isinstance(obj, dict), out
        assert "Traceback" not in err, (argv, err)
        assert code in allowed, (argv, code, obj)
        with contextlib.suppress(InvalidArgument):  # outside a hypothesis test there is nothing to record
            event(f"exit {code}" + (f" {obj['error']['code']}" if code else ""))
        if code != 0:
            assert obj["error"]["code"] and obj["error"]["message"] and obj["error"]["exit_code"] == code
        assert self.emulator.stats()["requests"] == [], (argv, self.emulator.stats()["requests"])
        assert snapshot(self.root) == before, argv
        return code, obj


@pytest.fixture
def world(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.chdir(tmp_path)
    return World(tmp_path, emulator)


# ------------------------------------------------------------------ strategies


def _catalog() -> Any:
    from wan_video.catalog import load_catalog

    return load_catalog()


CATALOG = _catalog()
MODELS = sorted(CATALOG.models) + sorted(CATALOG.deprecated) + sorted(CATALOG.unsupported)
SIZES = sorted({s for spec in CATALOG.models.values() if spec.protocol in ("size", "references")
                for s in spec.sizes(CATALOG)})
GOOD_PNG = "data:image/png;base64," + base64.b64encode(_png(320, 240)).decode()

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=5)


SPECIAL_FILES = ["/dev/zero", "/dev/null", "/proc/self/environ", "/proc/self/pagemap", "/", "~", "."]
TOO_LONG = "x" * 300 + ".png"  # a name over the file system's limit


def image_values(paths: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(paths),
        st.sampled_from(paths).map(lambda p: "file://" + p if p.startswith("/") else p),
        st.sampled_from([GOOD_PNG, "data:image/png;base64,AAAA", "data:image/png;base64,***",
                         "data:text/plain,hello", "oss://bucket/a.png", "http://127.0.0.1:9/a.png",
                         "ftp://example.com/a.png", *SPECIAL_FILES, TOO_LONG]),
        st.text(max_size=20),
        anything,
    )


def requests(paths: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    img = image_values(paths)
    fields: dict[str, st.SearchStrategy[Any]] = {
        "prompt": st.one_of(st.text(max_size=40), st.integers(1, 3000).map(lambda n: "p" * n)),
        "negative_prompt": st.text(max_size=40),
        "duration": st.one_of(st.sampled_from([2, 3, 4, 5, 10, 15]), st.integers(-3, 80),
                              st.floats(-1, 100, allow_nan=False)),
        "fps": st.one_of(st.sampled_from([12, 24, 30]), st.floats(-10, 200)),
        "size": st.one_of(st.sampled_from(SIZES + ["1280x720", "0*0", "99999*1", "abc", "832*480 "]),
                          st.text(max_size=12)),
        "resolution": st.sampled_from(["480P", "720P", "1080P", "4K", "720p"]),
        "ratio": st.sampled_from(["16:9", "9:16", "1:1", "4:3", "3:4", "2:1"]),
        "seed": st.integers(-5, 2**33),
        "reference_image": img,
        "last_frame_image": img,
        "reference_urls": st.lists(image_values(paths), max_size=6),
        "motion_strength": st.floats(-1, 2),
        "model": st.one_of(st.sampled_from(MODELS), st.text(max_size=20)),
        "region": st.sampled_from(["cn-beijing", "ap-southeast-1", "us-east-1", "eu-west-1", ""]),
        "audio": st.one_of(st.booleans(), scalars),
        "prompt_extend": st.one_of(st.booleans(), scalars),
        "watermark": st.booleans(),
        "shot_type": st.sampled_from(["single", "multi", "triple"]),
        "id": st.one_of(st.text(max_size=30), st.sampled_from(["../../evil", "/etc/passwd", "a/../../b"])),
    }
    # Each field is either a plausible value or anything at all; plus unknown fields sometimes.
    optional = {k: st.one_of(v, v, anything) for k, v in fields.items()}
    known = st.fixed_dictionaries({}, optional=optional)
    extra = st.dictionaries(st.text(max_size=10), anything, max_size=2)
    return st.tuples(known, extra, st.booleans()).map(lambda t: {**t[0], **t[1]} if t[2] else t[0])


@st.composite
def valid_requests(draw: st.DrawFn, paths: list[str]) -> dict[str, Any]:
    """A request the catalog accepts, for a random model (images as a real local PNG or data: URI)."""
    name = draw(st.sampled_from(sorted(CATALOG.models)))
    spec = CATALOG.models[name]
    req: dict[str, Any] = {"prompt": draw(st.text(min_size=1, max_size=30).filter(str.strip)), "model": name,
                           "region": draw(st.sampled_from(sorted(spec.regions)))}
    durations = spec.durations
    req["duration"] = draw(st.sampled_from(durations["values"]) if "values" in durations
                           else st.integers(durations["min"], durations["max"]))
    if spec.protocol in ("size", "references"):
        req["size"] = draw(st.sampled_from(spec.sizes(CATALOG)))
    else:
        req["resolution"] = draw(st.sampled_from(spec.tiers))
    image = st.sampled_from([p for p in paths if p.endswith("good.png")] + [GOOD_PNG])
    if spec.needs_image:
        req["reference_image"] = draw(image)
    if spec.last_frame and draw(st.booleans()):
        req["last_frame_image"] = draw(image)
    if spec.kind == "r2v":
        req["reference_urls"] = [draw(image)]
    for optional, strategy in (("seed", st.integers(0, 2**31 - 1)), ("fps", st.sampled_from([12, 24, 30])),
                               ("audio", st.booleans()), ("id", st.text(min_size=1, max_size=20))):
        if draw(st.booleans()):
            req[optional] = draw(strategy)
    return req


@st.composite
def mutated(draw: st.DrawFn, paths: list[str]) -> dict[str, Any]:
    """A valid request with up to two fields dropped, replaced by fuzz, or added."""
    req = draw(valid_requests(paths))
    wild = draw(requests(paths))
    for _ in range(draw(st.integers(0, 2))):
        how = draw(st.sampled_from(["drop", "replace", "add", "image"]))
        if how == "image":  # a hostile image where the model reads one
            key = draw(st.sampled_from(["reference_image", "last_frame_image"]))
            req[key] = draw(image_values(paths))
        elif how == "drop" and req:
            req.pop(draw(st.sampled_from(sorted(req))))
        elif how == "replace" and wild:
            key = draw(st.sampled_from(sorted(wild)))
            req[key] = wild[key]
        elif how == "add":
            req[draw(st.text(max_size=8))] = draw(anything)
    return req


def request_texts(paths: list[str]) -> st.SearchStrategy[str]:
    near = mutated(paths).map(lambda r: json.dumps(r, allow_nan=True))
    as_json = requests(paths).map(lambda r: json.dumps(r, allow_nan=True))
    return st.one_of(near, near, near, as_json, st.text(max_size=40),
                     anything.map(lambda v: json.dumps(v, allow_nan=True)))
    return st.one_of(as_json, as_json, as_json, st.text(max_size=40),
                     anything.map(lambda v: json.dumps(v, allow_nan=True)))



# ------------------------------------------------------------------ properties


# Examples per property, in units of the profile's max_examples (5 units: 300 quick, 10,200 long).
SHARE = {"requests": 2, "refused": 1, "images": 1, "argv": 1}


@settings(PROFILE, max_examples=PROFILE.max_examples * SHARE["requests"])
@given(data=st.data())
def test_fuzzed_requests_in_a_dry_run(world: World, data: st.DataObject) -> None:
    text = data.draw(request_texts(world.paths), label="request")
    extra = data.draw(st.lists(st.sampled_from([["--region", "ap-southeast-1"], ["--region", "us-east-1"],
                                                ["--max-cost", "0.5"], ["--max-cost", "-1"], ["--max-cost", "100"],
                                                ["--output", "../outside.mp4"], ["--no-wait"], ["--force"]]),
                                max_size=2), label="options")
    via_file = data.draw(st.booleans(), label="via --file -")
    argv = ["--file", "-"] if via_file else ["--request", text]
    world.check([*argv, "--dry-run", *[a for opt in extra for a in opt]], DRY_RUN_EXITS,
                stdin=text if via_file else "")


@settings(PROFILE, max_examples=PROFILE.max_examples * SHARE["refused"])
@given(data=st.data())
def test_a_refused_request_is_refused_for_real_without_the_network(world: World, data: st.DataObject) -> None:
    text = data.draw(request_texts(world.paths), label="request")
    code, obj = world.check(["--request", text, "--dry-run"], DRY_RUN_EXITS)
    if code == 0:
        return  # a valid request would really run; only refusals are replayed
    again, obj2 = world.check(["--request", text, "--timeout", "5"], {code})
    assert obj2["error"]["code"] == obj["error"]["code"]


@settings(PROFILE, max_examples=PROFILE.max_examples * SHARE["images"])
@given(data=st.data())
def test_fuzzed_reference_images(world: World, data: st.DataObject) -> None:
    """An image model's request whose images are anything: a local file, a special file, junk."""
    name = data.draw(st.sampled_from(sorted(n for n, spec in CATALOG.models.items() if spec.needs_image)))
    req: dict[str, Any] = {"prompt": "the kite turns", "model": name,
                           "region": sorted(CATALOG.models[name].regions)[0]}
    req["reference_image"] = data.draw(image_values(world.paths), label="reference_image")
    if CATALOG.models[name].last_frame and data.draw(st.booleans()):
        req["last_frame_image"] = data.draw(image_values(world.paths), label="last_frame_image")
    text = json.dumps(req, allow_nan=True)
    code, obj = world.check(["--request", text, "--dry-run"], DRY_RUN_EXITS)
    if code != 0:  # refused: refused the same way for real, still offline
        world.check(["--request", text, "--timeout", "5"], {code})


OPTIONS_WITH_VALUE = ["--request", "--file", "--output", "--timeout", "--max-cost", "--region", "--workspace",
                      "--kind", "--days", "--model", "--status"]
FLAGS = ["--no-wait", "--force", "--print-response", "--cancel-on-interrupt", "--quiet", "--json", "--dry-run",
         "--local"]
NUMBERS = ["0", "-1", "1e309", "nan", "inf", "-inf", "3.5", "99999999999999999999", "0x10", ""]


def argvs(paths: list[str]) -> st.SearchStrategy[list[str]]:
    word = st.text(max_size=12).filter(lambda s: not s.startswith("-"))  # no accidental --help
    value = st.one_of(word, st.sampled_from(NUMBERS), st.sampled_from(paths),
                      request_texts(paths), st.sampled_from(["cn-beijing", "t2v", "i2v", "-"]))
    option = st.one_of(st.tuples(st.sampled_from(OPTIONS_WITH_VALUE), value).map(list),
                       st.sampled_from(FLAGS).map(lambda f: [f]), word.map(lambda w: [w]))
    head = st.sampled_from([[], ["generate"], ["submit"], ["models"], ["spend"], ["list", "--local"]])
    return st.tuples(head, st.lists(option, max_size=6)).map(
        lambda t: [*t[0], *[a for opt in t[1] for a in opt]])


@settings(PROFILE, max_examples=PROFILE.max_examples * SHARE["argv"])
@given(data=st.data())
def test_fuzzed_command_lines(world: World, data: st.DataObject) -> None:
    argv = data.draw(argvs(world.paths), label="argv")
    if not argv or argv[0] not in ("models", "spend", "list"):
        argv = [*argv, "--dry-run"]  # a generate form: never a real run
    world.check(argv, DRY_RUN_EXITS, stdin='{"prompt": "from stdin"}')


def test_the_profiles_add_up() -> None:
    """About 300 examples by default, at least 10,000 in the long profile."""
    quick, long = settings.get_profile(QUICK).max_examples, settings.get_profile(LONG_PROFILE).max_examples
    assert quick * sum(SHARE.values()) == 300
    assert long * sum(SHARE.values()) >= 10_000
    assert os.environ.get("WAN_VIDEO_LONG") != "1" or PROFILE.max_examples == long


# ------------------------------------------------------------------ defects found here, fixed

LIMIT_MEMORY = "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))"


def test_known_defect_file_from_dev_zero(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", f"{LIMIT_MEMORY}; sys.argv[1:] = ['--file', '/dev/zero', "
                           f"'--dry-run']; sys.path.insert(0, {str(SCRIPT.parent)!r}); "
                           "from wan_video.cli import main; sys.exit(main())"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"]["code"] == "InvalidArguments"


def test_known_defect_file_from_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--file", str(tmp_path / "pipe"), "--dry-run"],
                          capture_output=True, text=True, timeout=1.5, cwd=tmp_path)
    assert proc.returncode == 2


def test_known_defect_reference_url_with_a_name_too_long(world: World) -> None:
    req = {"prompt": "x", "model": "wan2.6-r2v", "reference_urls": [TOO_LONG]}
    world.check(["--request", json.dumps(req), "--dry-run"], {2})
