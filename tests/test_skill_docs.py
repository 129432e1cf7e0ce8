"""The skill's documents and data agree with each other and with the code: frontmatter lint,
generated tables, example requests, the catalog schema and its cross-checks, seed coverage,
and the skill folder working when copied alone."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SKILL_NAME = "alicloud-ai-video-wan-video"
SKILL_DIR = ROOT / "skills" / "ai" / "video" / SKILL_NAME
SCRIPTS = SKILL_DIR / "scripts"
PACKAGE = SCRIPTS / "wan_video"
SHARED = ROOT.parent / "shared"  # CI clones the repository with shared/ beside it
sys.path.insert(0, str(SCRIPTS))

from wan_video import errors  # noqa: E402
from wan_video.errors import SERVICE_ERRORS  # noqa: E402


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


validate = _load("repo_scripts_validate", ROOT / "scripts" / "validate.py")
skill_tables = _load("repo_scripts_skill_tables", ROOT / "scripts" / "skill_tables.py")

SKILL_MD = SKILL_DIR / "SKILL.md"


def frontmatter(path: Path) -> dict[str, Any]:
    front, _ = validate.split_frontmatter(path.read_text(encoding="utf-8"))
    assert front is not None
    return yaml.safe_load(front)


def body(path: Path) -> str:
    return validate.split_frontmatter(path.read_text(encoding="utf-8"))[1]


def table_rows(markdown: str) -> list[list[str]]:
    """Data rows of the markdown tables in a text (header and separator rows dropped)."""
    rows = []
    lines = [ln for ln in markdown.splitlines() if ln.startswith("|")]
    for i, line in enumerate(lines):
        if re.fullmatch(r"\|(-+\|)+", line) or (i + 1 < len(lines) and re.fullmatch(r"\|(-+\|)+", lines[i + 1])):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append(cells)
    return rows


def first_code(cell: str) -> str:
    match = re.search(r"`([^`]+)`", cell)
    assert match, cell
    return match.group(1)


# --------------------------------------------------------------------------- frontmatter lint


@pytest.mark.parametrize("path", validate.find_skill_mds(ROOT), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_skill_md_passes_the_lint(path: Path) -> None:
    assert validate.lint_skill_md(path, ROOT) == []


def test_the_skill_and_the_root_manifest_exist() -> None:
    found = validate.find_skill_mds(ROOT)
    assert ROOT / "SKILL.md" in found
    assert SKILL_MD in found


def test_skill_frontmatter() -> None:
    meta = frontmatter(SKILL_MD)
    assert meta["name"] == SKILL_NAME == SKILL_DIR.name
    assert set(meta) <= validate.ALLOWED_FRONTMATTER
    init = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    package_version = re.search(r'__version__ = "([^"]+)"', init)
    pyproject = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    assert pyproject and meta["metadata"]["version"] == pyproject.group(1)
    if package_version:
        assert meta["metadata"]["version"] == package_version.group(1)


@pytest.mark.parametrize("words", ["text-to-video", "image-to-video", "first/last frame",
                                   "文生视频", "图生视频", "首尾帧", "视频生成"])
def test_description_says_when_with_the_users_words(words: str) -> None:
    assert words in frontmatter(SKILL_MD)["description"]


def test_root_manifest_routes_video_work_to_the_skill() -> None:
    meta = frontmatter(ROOT / "SKILL.md")
    assert "video" in meta["description"]
    assert f"skills/ai/video/{SKILL_NAME}" in meta["description"]
    assert f"(skills/ai/video/{SKILL_NAME}/SKILL.md)" in body(ROOT / "SKILL.md")


def test_skill_body_is_lean() -> None:
    assert len(body(SKILL_MD).splitlines()) < 300


def _skill(tmp_path: Path, text: str, folder: str = "my-skill") -> Path:
    path = tmp_path / folder / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


GOOD_FRONT = "---\nname: my-skill\ndescription: Use when testing the lint.\n---\n"


@pytest.mark.parametrize(("text", "problem"), [
    pytest.param("# no frontmatter\n", "no YAML frontmatter", id="no-frontmatter"),
    pytest.param("---\nname: [unclosed\n---\nbody\n", "frontmatter is not valid YAML", id="bad-yaml"),
    pytest.param("---\n- a\n- b\n---\n", "frontmatter must be a YAML mapping", id="not-a-mapping"),
    pytest.param("---\nname: my-skill\ndescription: d\nversion: 1\n---\n", "unexpected frontmatter key(s): version",
                 id="extra-key"),
    pytest.param("---\ndescription: d\n---\n", "missing 'name'", id="no-name"),
    pytest.param("---\nname: My_Skill\ndescription: d\n---\n", "is not kebab-case", id="not-kebab"),
    pytest.param("---\nname: other-skill\ndescription: d\n---\n", "differs from the folder name 'my-skill'",
                 id="name-not-folder"),
    pytest.param("---\nname: my-skill\n---\n", "missing 'description'", id="no-description"),
    pytest.param("---\nname: my-skill\ndescription: " + "d" * 1025 + "\n---\n", "description is 1025 characters",
                 id="description-too-long"),
    pytest.param("---\nname: my-skill\ndescription: use <this>\n---\n", "angle brackets", id="angle-brackets"),
    pytest.param("---\nname: my-skill\ndescription: d\nmetadata: 1.0\n---\n", "metadata must be a mapping",
                 id="metadata-not-mapping"),
    pytest.param(GOOD_FRONT + "line\n" * 500, "body is 500 lines", id="body-too-long"),
])
def test_lint_catches(tmp_path: Path, text: str, problem: str) -> None:
    problems = validate.lint_skill_md(_skill(tmp_path, text), tmp_path)
    assert any(problem in p for p in problems), problems


def test_lint_accepts_a_minimal_skill(tmp_path: Path) -> None:
    assert validate.lint_skill_md(_skill(tmp_path, GOOD_FRONT + "# My skill\n"), tmp_path) == []


def test_openai_yaml() -> None:
    path = SKILL_DIR / "agents" / "openai.yaml"
    assert validate.lint_openai_yaml(path, SKILL_NAME) == []
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["interface"]["display_name"]


def test_openai_yaml_lint_catches(tmp_path: Path) -> None:
    path = tmp_path / "openai.yaml"
    path.write_text('interface:\n  display_name: "X"\n  short_description: "short"\n  default_prompt: "hi"\n')
    problems = validate.lint_openai_yaml(path, SKILL_NAME)
    assert any("short_description is 5 characters" in p for p in problems)
    assert any(f"${SKILL_NAME}" in p for p in problems)


def test_references_named_in_skill_md_exist() -> None:
    named = set(re.findall(r"references/([\w.-]+\.md)", SKILL_MD.read_text(encoding="utf-8")))
    assert named == {"api_reference.md", "troubleshooting.md", "sources.md"}
    for name in named:
        assert (SKILL_DIR / "references" / name).is_file()
    assert (ROOT / "references" / "skill_conventions.md").is_file()


# --------------------------------------------------------------------------- tables


def test_generated_tables_are_up_to_date() -> None:
    assert skill_tables.check() == []


def test_skill_tables_check_command() -> None:
    proc = subprocess.run([sys.executable, "scripts/skill_tables.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_stale_table_is_reported(tmp_path: Path) -> None:
    stale = tmp_path / "SKILL.md"
    text = SKILL_MD.read_text(encoding="utf-8").replace("| `wan2.6-t2v` | t2v |", "| `wan2.6-t2v-x` | t2v |")
    stale.write_text(text, encoding="utf-8")
    problems = skill_tables.check({stale: ("models",)})
    assert len(problems) == 1 and "table 'models' is stale" in problems[0]
    missing = tmp_path / "empty.md"
    missing.write_text("# nothing\n", encoding="utf-8")
    assert "no generated block 'request'" in skill_tables.check({missing: ("request",)})[0]


def _block(path: Path, name: str) -> str:
    block = skill_tables.extract(path.read_text(encoding="utf-8"), name)
    assert block is not None
    return block


def test_request_table_is_exactly_the_schema() -> None:
    schema = json.loads((PACKAGE / "schemas" / "request.schema.json").read_text(encoding="utf-8"))
    rows = table_rows(_block(SKILL_MD, "request"))
    assert [first_code(r[0]) for r in rows] == list(schema["properties"])
    assert [r[2] for r in rows if r[2] == "yes"] == ["yes"] * len(schema["required"])


RESPONSE_FIELDS = ["video_url", "duration", "fps", "seed", "task_id", "model", "status", "local_path", "sha256",
                   "width", "height", "usage", "cost_cny", "evidence_dir", "cached", "warnings"]


def test_response_table_has_every_response_field() -> None:
    rows = {first_code(r[0]): r for r in table_rows(_block(SKILL_MD, "response"))}
    assert set(RESPONSE_FIELDS) <= set(rows)
    for name in ("duration", "fps", "width", "height"):
        assert "measured from the delivered file" in rows[name][2]


def test_model_table_is_exactly_the_catalog() -> None:
    proc = subprocess.run([sys.executable, "scripts/generate_video.py", "models", "--json"], cwd=SKILL_DIR,
                          capture_output=True, text=True, timeout=60, env=validate.isolated_env())
    models = [m["model"] for m in json.loads(proc.stdout)["models"]]
    rows = table_rows(_block(SKILL_MD, "models"))
    assert [first_code(r[0]) for r in rows] == models
    assert rows and all(len(r) == 7 for r in rows)


def test_exit_code_table_matches_errors_py() -> None:
    section = SKILL_MD.read_text(encoding="utf-8").split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(r[0]) for r in table_rows(section)}
    constants = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    assert documented == constants == {0, 1, 2, 3, 4, 5, 6, 7, 10}


# --------------------------------------------------------------------------- examples


EXAMPLES = validate.find_examples()


def test_examples_cover_skill_md_and_the_references() -> None:
    sources = {e.source.split(":")[0] for e in EXAMPLES}
    rel = f"skills/ai/video/{SKILL_NAME}"
    assert {f"{rel}/SKILL.md", f"{rel}/references/api_reference.md", f"{rel}/references/troubleshooting.md"} <= sources
    assert any(e.expect == 2 for e in EXAMPLES)
    assert sum(e.expect == 0 for e in EXAMPLES) >= 8


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.source.split("/")[-1])
def test_every_example_request_dry_runs(example: Any) -> None:
    assert validate.run_example(example) == []


def test_example_finder_reads_tags_and_command_lines(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("```json request\n{\"prompt\": \"a\"}\n```\n\n```json invalid-request\n{}\n```\n\n```json\n"
                   "{\"not\": \"an example\"}\n```\n\n    python scripts/generate_video.py --request "
                   "'{\"prompt\": \"b\"}' --region ap-southeast-1\n", encoding="utf-8")
    found = validate.find_examples([doc], tmp_path)
    assert [(e.source, e.request, e.expect, e.args) for e in found] == [
        ("doc.md:1", '{"prompt": "a"}', 0, []),
        ("doc.md:5", "{}", 2, []),
        ("doc.md:13", '{"prompt": "b"}', 0, ["--region", "ap-southeast-1"]),
    ]


def test_run_example_reports_the_wrong_exit() -> None:
    bad = validate.Example("x.md:1", '{"prompt": ""}', 0)
    assert validate.run_example(bad)[0].startswith("exit 2, expected 0: invalid request")
    assert validate.run_example(validate.Example("x.md:2", "{nope", 2)) == [
        "not valid JSON (Expecting property name enclosed in double quotes); examples must be JSON objects"]


# --------------------------------------------------------------------------- catalog


def test_catalog_validates_against_its_schema() -> None:
    assert validate.catalog_schema_problems(validate.load_models_yaml()) == []


def test_catalog_cross_checks_pass() -> None:
    assert validate.catalog_problems(validate.load_models_yaml()) == []


def _mutate(path: str, value: Any) -> Any:
    """A copy of the catalog with one key set (value None deletes it)."""
    data = copy.deepcopy(validate.load_models_yaml())
    *parents, last = path.split("/")
    target = data
    for key in parents:
        target = target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return data


CATALOG_FAULTS = [
    # schema
    pytest.param("models/wan2.6-t2v/kind", "vace", "models.wan2.6-t2v.kind: 'vace' is not one of", id="kind-enum"),
    pytest.param("models/wan2.6-t2v/protocol", "magic", "models.wan2.6-t2v.protocol: 'magic' is not one of",
                 id="protocol-enum"),
    pytest.param("models/wan2.6-t2v/path", "text2video", "models.wan2.6-t2v.path: 'text2video' is not one of",
                 id="path-enum"),
    pytest.param("models/wan2.6-t2v/audio", "stereo", "models.wan2.6-t2v.audio: 'stereo' is not one of",
                 id="audio-enum"),
    pytest.param("models/wan2.6-t2v/fps_hint", 24, "Additional properties are not allowed ('fps_hint'",
                 id="unknown-model-key"),
    pytest.param("models/wan2.6-t2v/durations", None, "'durations' is a required property", id="missing-required"),
    pytest.param("models/wan2.6-t2v/default_size", None, "'default_size' is a required property",
                 id="size-model-without-default-size"),
    pytest.param("models/wanx2.1-kf2v-plus/path", "video-generation", "models.wanx2.1-kf2v-plus.path",
                 id="kf2v-on-video-generation"),
    pytest.param("models/wan2.6-i2v-flash/price_silent", None, "'price_silent' is a required property",
                 id="switch-without-silent-price"),
    pytest.param("models/wan2.2-t2v-flash/replacement", None, "'replacement' is a required property",
                 id="unlisted-without-replacement"),
    pytest.param("models/wan2.6-i2v/image", None, "'image' is a required property", id="i2v-without-image-limits"),
    pytest.param("regions/cn-beijing/currency", "EUR", "regions.cn-beijing.currency: 'EUR' is not one of",
                 id="currency-enum"),
    pytest.param("extra", 1, "Additional properties are not allowed ('extra'", id="unknown-top-level-key"),
    # cross-checks
    pytest.param("models/wan2.6-t2v/regions", {"cn-beijing": "wan2.6-t2v", "eu-central-1": "wan2.6-t2v"},
                 "models.wan2.6-t2v.regions: 'eu-central-1' is not a key of the top-level regions",
                 id="region-not-declared"),
    pytest.param("deprecated/wanx-i2v-v1/replacement", "wan9-i2v",
                 "deprecated.wanx-i2v-v1.replacement: 'wan9-i2v' is not a catalog model", id="deprecated-replacement"),
    pytest.param("unsupported/cogvideox/replacement", "wan9-t2v",
                 "unsupported.cogvideox.replacement: 'wan9-t2v' is not a catalog model", id="unsupported-replacement"),
    pytest.param("defaults/text", "wan9-t2v", "defaults.text: 'wan9-t2v' is not a catalog model",
                 id="default-unknown"),
    pytest.param("defaults/image", "wan2.6-t2v", "defaults.image: 'wan2.6-t2v' is t2v, not i2v", id="default-kind"),
    pytest.param("default_region", "eu-central-1", "default_region 'eu-central-1' is not a key of regions",
                 id="default-region"),
    pytest.param("models/wan2.6-t2v/family", "wan9", "models.wan2.6-t2v.family: 'wan9' is not a key of families",
                 id="family"),
    pytest.param("models/wan2.6-t2v/default_size", "832*480",
                 "models.wan2.6-t2v.default_size: '832*480' is not a size of its tiers", id="default-size-tier"),
    pytest.param("models/wan2.6-i2v/default_tier", "480P",
                 "models.wan2.6-i2v.default_tier: '480P' is not one of its tiers", id="default-tier"),
    pytest.param("models/wan2.2-t2v-plus/default_duration", 10,
                 "models.wan2.2-t2v-plus.default_duration: 10 is not allowed", id="default-duration"),
    pytest.param("models/wan2.6-t2v/tiers", ["720P", "1080P", "4000P"],
                 "models.wan2.6-t2v.tiers: '4000P' is not a key of tiers", id="tier-undeclared"),
    pytest.param("models/wan2.6-i2v/image", "huge", "models.wan2.6-i2v.image: 'huge' is not a key of images",
                 id="image-group"),
    pytest.param("models/wan2.6-t2v/price", {"cn-beijing": {"720P": 0.6, "1080P": 1.0}},
                 "models.wan2.6-t2v.price: regions ['cn-beijing'] differ", id="price-regions"),
    pytest.param("models/wan2.6-t2v/regions", {"cn-beijing": "wan2.6-t2v", "ap-southeast-1": "wan2.6-t2v",
                                               "us-east-1": "wan2.6-i2v"},
                 "'wan2.6-i2v' is also the name of wan2.6-t2v in us-east-1", id="wire-name-collision"),
    pytest.param("unsupported/wan2.6-t2v", {"kind": "t2v", "reason": "test"},
                 "'wan2.6-t2v' is in both models and unsupported", id="name-in-two-sections"),
]


@pytest.mark.parametrize(("path", "value", "problem"), CATALOG_FAULTS)
def test_catalog_checks_catch(path: str, value: Any, problem: str) -> None:
    data = _mutate(path, value)
    problems = validate.catalog_schema_problems(data) + validate.catalog_problems(data)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("name", ["models.schema.json", "request.schema.json", "response.schema.json"])
def test_schemas_are_valid_2020_12(name: str) -> None:
    from jsonschema import Draft202012Validator

    schema = json.loads((PACKAGE / "schemas" / name).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_decisions_in_models_yaml_are_recorded_in_api_reference() -> None:
    lines = (PACKAGE / "models.yaml").read_text(encoding="utf-8").splitlines()
    decisions = (SKILL_DIR / "references" / "api_reference.md").read_text(encoding="utf-8").split("## Decisions")[1]
    owner = None
    owners = set()
    for line in lines:
        key = re.match(r"^ {2}([\w.-]+):", line)
        if key:
            owner = key.group(1)
        if re.search(r"#\s*decision:", line):
            owners.add(owner)
    assert owners, "models.yaml has no decision: comments"
    for name in owners:
        assert name in decisions, f"the decision on {name} is not in api_reference.md's Decisions"


# --------------------------------------------------------------------------- seeds


SEED_MODEL_NAMES = [
    "animate-anyone", "animate-anyone-detect", "animate-anyone-detect-gen2", "animate-anyone-gen2",
    "animate-anyone-template-gen2", "cogvideo-v1.5", "cogvideox", "emo-detect-v1", "emo-v1", "emoji-detect-v1",
    "emoji-v1", "liveportrait", "liveportrait-detect", "qwen-image-edit-plus", "qwen-plus-latest", "qwen3-max",
    "video-generation-v1", "video-style-transform", "videoretalk", "wan2.2-i2v-plus", "wan2.2-t2v-flash",
    "wan2.2-t2v-plus", "wan2.5-i2i-preview", "wan2.5-i2v-preview", "wan2.5-t2i-preview", "wan2.6-i2v",
    "wan2.6-i2v-flash", "wan2.6-i2v-preview", "wan2.6-i2v-us", "wan2.6-image", "wan2.6-r2v", "wan2.6-t2i",
    "wan2.6-t2v-us", "wanx-i2v-v1", "wanx-v1", "wanx-v1-video", "wanx-v2", "wanx2.1-i2v-plus",
    "wanx2.1-i2v-preview", "wanx2.1-i2v-turbo", "wanx2.1-kf2v-plus", "wanx2.1-t2v-plus", "wanx2.1-t2v-turbo",
    "wanx2.1-vace-plus",
]
# Names in the seeds that are not Wan video or image models the catalog should know: LLMs and
# the guesses seed 000 lists as "可能的模型名称（需要确认）" (possible names, to be confirmed).
NOT_CATALOG_NAMES = {"qwen3-max": "LLM", "qwen-plus-latest": "LLM"}
# The guesses seed 000 lists as possible names are refused with the name to use instead.
SEED_GUESSES = ["cogvideo-v1.5", "video-generation-v1", "wanx-v2"]
MODEL_NAME = re.compile(
    r"(?<![\w./-])((?:wanx?[0-9][\w.]*|wanx)(?:-[a-z0-9.]+)+|cogvideo[a-z0-9.-]*|animate-anyone[a-z0-9-]*"
    r"|emo(?:ji)?-[a-z0-9-]+|liveportrait[a-z0-9-]*|videoretalk|video-style-transform|qwen[a-z0-9.-]*"
    r"|video-generation-v1)(?![\w/])")


@pytest.mark.skipif(not (SHARED / "seeds").is_dir(), reason="../shared/seeds is not beside the repository")
def test_seed_name_list_matches_the_seeds() -> None:
    found = set()
    for path in (SHARED / "seeds").iterdir():
        found |= {m.group(1).rstrip(".-") for m in MODEL_NAME.finditer(path.read_text(encoding="utf-8"))}
    assert sorted(found) == SEED_MODEL_NAMES


def _models_json() -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "scripts/generate_video.py", "models", "--json"], cwd=SKILL_DIR,
                          capture_output=True, text=True, timeout=60, env=validate.isolated_env())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_models_json_covers_every_seed_model_name() -> None:
    out = _models_json()
    known = {m["model"] for m in out["models"]}
    known |= {wire for m in out["models"] for wire in m["regions"].values()}
    known |= set(out["deprecated"]) | set(out["unsupported"])
    missing = [n for n in SEED_MODEL_NAMES if n not in known and n not in NOT_CATALOG_NAMES]
    assert missing == []
    assert not (set(NOT_CATALOG_NAMES) & known)


@pytest.mark.parametrize("name", SEED_GUESSES)
def test_seed_guesses_are_refused_with_a_replacement(name: str) -> None:
    proc = subprocess.run([sys.executable, "scripts/generate_video.py", "--request",
                           json.dumps({"prompt": "x", "model": name}), "--dry-run"], cwd=SKILL_DIR,
                          capture_output=True, text=True, timeout=60, env=validate.isolated_env())
    assert proc.returncode == 2
    error = json.loads(proc.stdout)["error"]
    assert error["code"] == "DeprecatedModel"
    assert error["message"].startswith(f"model: {name!r} is not a video model you can use")
    assert "use 'wan2.6-t2v' instead" in error["hint"]


# --------------------------------------------------------------------------- errors and sources

ERROR_CODES = [  # wan_api.md section 4
    "InvalidParameter", "InvalidParameter.DataInspection", "InvalidURL", "InvalidURL.ConnectionRefused",
    "InvalidURL.Timeout", "BadRequest.InputDownloadFailed", "BadRequest.EmptyInput", "BadRequest.EmptyParameters",
    "BadRequest.EmptyModel", "DataInspectionFailed", "IPInfringementSuspect", "Arrearage", "UnsupportedOperation",
    "InvalidApiKey", "AccessDenied", "AccessDenied.Unpurchased", "Model.AccessDenied", "Workspace.AccessDenied",
    "AllocationQuota.FreeTierOnly", "ModelNotFound", "WorkSpaceNotFound", "RequestTimeOut", "BadRequest.TooLarge",
    "Throttling", "Throttling.RateQuota", "Throttling.BurstRate", "Throttling.AllocationQuota",
    "Throttling.Concurrency", "LimitRequests", "PrepaidBillOverdue", "PostpaidBillOverdue", "CommodityNotPurchased",
    "InternalError", "InternalError.Algo", "InternalError.Timeout", "SystemError", "ModelUnavailable",
]
WAN_API = SHARED / "reference" / "wan_api.md"


@pytest.mark.skipif(not WAN_API.is_file(), reason="../shared/reference/wan_api.md is not beside the repository")
def test_error_code_list_matches_wan_api() -> None:
    section = WAN_API.read_text(encoding="utf-8").split("## 4. Errors", 1)[1].split("\n## ", 1)[0]
    codes: list[str] = []
    for row in section.splitlines():
        if not re.match(r"^\| \d{3}", row):
            continue
        parts = [p.strip() for p in row.split("|")[2].split("/")]
        prefix = parts[0].rsplit(".", 1)[0] + "." if "." in parts[0] else ""
        for part in parts:
            if re.fullmatch(r"[A-Za-z.]+", part):
                codes.append(part if "." in part or not prefix else prefix + part)
    assert list(dict.fromkeys(codes)) == ERROR_CODES


@pytest.mark.parametrize("code", ERROR_CODES)
def test_every_service_error_code_is_in_the_troubleshooting_table(code: str) -> None:
    assert code in SERVICE_ERRORS
    rows = table_rows(_block(SKILL_DIR / "references" / "troubleshooting.md", "errors"))
    assert code in [first_code(r[0]) for r in rows]


SOURCE_URLS = [  # wan_api.md section 0
    "https://help.aliyun.com/zh/model-studio/text-to-video-api-reference",
    "https://help.aliyun.com/zh/model-studio/developer-reference/text-to-video-api-reference",
    "https://help.aliyun.com/zh/model-studio/image-to-video-api-reference",
    "https://help.aliyun.com/zh/model-studio/wanx-vace-api-reference",
    "https://docs.qwencloud.com/api-reference/video-generation/wan27-text-to-video/create-task",
    "https://platform.qianwenai.com/docs/api-reference/video-generation/wan27-text-to-video/query-result",
    "https://help.aliyun.com/zh/model-studio/manage-asynchronous-tasks",
    "https://help.aliyun.com/zh/model-studio/error-code",
    "https://help.aliyun.com/zh/model-studio/get-temporary-file-url",
    "https://help.aliyun.com/zh/model-studio/rate-limit",
    "https://help.aliyun.com/zh/model-studio/model-pricing",
]


@pytest.mark.skipif(not WAN_API.is_file(), reason="../shared/reference/wan_api.md is not beside the repository")
def test_source_url_list_matches_wan_api() -> None:
    section = WAN_API.read_text(encoding="utf-8").split("## 0. Sources", 1)[1].split("\n## ", 1)[0]
    urls = {u.rstrip(",.") for u in re.findall(r"https://[^\s|)]+", section)}
    assert urls == set(SOURCE_URLS)


def test_sources_md_lists_every_source() -> None:
    text = (SKILL_DIR / "references" / "sources.md").read_text(encoding="utf-8")
    for url in SOURCE_URLS:
        assert url in text


# --------------------------------------------------------------------------- the skill folder alone

PROBE = ("import runpy, sys; runpy.run_path('scripts/generate_video.py', run_name='probe'); "
         "import wan_video.cli; print(wan_video.cli.__file__)")


def test_skill_folder_copied_alone_runs(tmp_path: Path) -> None:
    copy_dir = tmp_path / SKILL_NAME
    shutil.copytree(SKILL_DIR, copy_dir, ignore=shutil.ignore_patterns("__pycache__", "output"))
    env = validate.isolated_env()
    env["OUTPUT_DIR"] = str(tmp_path / "out")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], cwd=copy_dir, capture_output=True, text=True,
                              timeout=60, env=env)

    probe = run("-c", PROBE)
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).resolve().is_relative_to(copy_dir.resolve())

    models = run("scripts/generate_video.py", "models", "--json")
    assert models.returncode == 0, models.stderr
    assert len(json.loads(models.stdout)["models"]) == len(table_rows(_block(SKILL_MD, "models")))

    # A change to the copy's catalog shows up: the copy runs its own code and data.
    catalog = copy_dir / "scripts" / "wan_video" / "models.yaml"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace("default_region: cn-beijing",
                                                                   "default_region: ap-southeast-1"),
                       encoding="utf-8")
    dry = run("scripts/generate_video.py", "--request", '{"prompt": "a cat", "model": "wanx2.1-t2v-turbo"}',
              "--dry-run")
    assert dry.returncode == 0, dry.stderr
    out = json.loads(dry.stdout)
    assert out["status"] == "DRY_RUN"
    assert out["region"] == "ap-southeast-1"
    assert out["wire_body"]["model"] == "wan2.1-t2v-turbo"
    assert not (copy_dir / "output").exists() or not any((copy_dir / "output").iterdir())


def test_seed_py_compile_check(tmp_path: Path) -> None:
    ok, details = validate.check_seed_py_compile(validate.Context())
    assert ok, details
    assert (ROOT / "output" / SKILL_NAME / "validate.txt").read_text() == "py_compile_ok\n"


def test_validate_script_writes_a_report(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "scripts/validate.py", "--report", str(report), "--only", "skill_md_lint",
                           "--only", "json_schemas", "--only", "catalog", "--only", "skill_tables"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["ok"] is True
    assert [c["name"] for c in data["checks"]] == ["skill_md_lint", "json_schemas", "catalog", "skill_tables"]
    assert all(set(c) == {"name", "ok", "details", "seconds"} for c in data["checks"])
    assert "4/4 checks passed" in proc.stderr


def test_validate_has_the_planned_checks() -> None:
    assert [name for name, _ in validate.CHECKS] == ["seed_py_compile", "skill_md_lint", "json_schemas", "catalog",
                                                     "skill_tables", "example_requests", "end_to_end"]


def test_environment_variables_named_in_the_docs_are_the_ones_the_code_reads() -> None:
    from wan_video.config import ENV_VARS

    docs = [SKILL_MD, *sorted((SKILL_DIR / "references").glob("*.md")), ROOT / "SKILL.md"]
    named = set()
    for path in docs:
        named |= set(re.findall(r"\b((?:DASHSCOPE|WAN_VIDEO|ALIBABA_CLOUD)_[A-Z_]+|OUTPUT_DIR)\b",
                                path.read_text(encoding="utf-8")))
    assert named and named <= set(ENV_VARS), named - set(ENV_VARS)
