"""Credentials, regions, doctor and cost control: answered before any money is spent."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from conftest_helpers import cli

pytestmark = pytest.mark.usefixtures("isolated")


def _write_credentials(home: Path, text: str, mode: int = 0o600) -> Path:
    path = home / ".alibabacloud" / "credentials"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ credentials
def test_no_key_is_exit_3_naming_both_ways(emulator):
    code, res, _ = cli(["doctor"], env={"DASHSCOPE_API_KEY": ""})
    assert code == 3
    assert res["error"]["code"] == "MissingApiKey"
    assert "export DASHSCOPE_API_KEY" in res["error"]["hint"]
    assert "~/.alibabacloud/credentials" in res["error"]["hint"]
    assert res["ok"] is False and res["key_source"] is None


def test_bad_key_is_refused_by_a_read_only_query(emulator):
    code, res, _ = cli(["doctor"], env={"DASHSCOPE_API_KEY": "sk-wrong-key-000000"})
    assert code == 3
    assert res["error"]["code"] == "InvalidApiKey"
    assert res["error"]["message"] == "Invalid API-key provided."
    assert [c["check"] for c in res["checks"]] == ["region", "api_key", "reachable", "key_accepted"]
    assert emulator.stats()["created_tasks"] == 0
    assert "sk-wrong-key-000000" not in json.dumps(res)


def test_key_from_a_credentials_profile(emulator, tmp_path, cli_env):
    key = cli_env["DASHSCOPE_API_KEY"]
    _write_credentials(Path(cli_env["HOME"]), f"[default]\ndashscope_api_key = sk-other\n\n[work]\ndashscope_api_key = {key}\n")
    code, res, _ = cli(["doctor"], env={"DASHSCOPE_API_KEY": "", "ALIBABA_CLOUD_PROFILE": "work"})
    assert code == 0, res
    assert res["key_source"] == "file:~/.alibabacloud/credentials[work]"
    assert key not in json.dumps(res)


def test_the_environment_wins_over_the_file(emulator, cli_env):
    _write_credentials(Path(cli_env["HOME"]), "[default]\ndashscope_api_key = sk-from-file\n")
    code, res, _ = cli(["doctor"])
    assert code == 0 and res["key_source"] == "env:DASHSCOPE_API_KEY"


def test_a_credentials_file_readable_by_others_is_warned_about(emulator, cli_env):
    _write_credentials(Path(cli_env["HOME"]), f"[default]\ndashscope_api_key = {cli_env['DASHSCOPE_API_KEY']}\n",
                       mode=0o644)
    code, res, _ = cli(["doctor"], env={"DASHSCOPE_API_KEY": ""})
    assert code == 0
    key_check = next(c for c in res["checks"] if c["check"] == "api_key")
    assert any("chmod 600" in w for w in key_check["detail"]["warnings"])


# ------------------------------------------------------------------ regions
@pytest.mark.parametrize("region, host", [
    ("cn-beijing", "https://dashscope.aliyuncs.com/api/v1"),
    ("ap-southeast-1", "https://dashscope-intl.aliyuncs.com/api/v1"),
    ("us-east-1", "https://dashscope-us.aliyuncs.com/api/v1"),  # the docs' host, not the SDK 2.0.2 map
])
def test_each_region_has_its_documented_host(region, host):
    model = "wan2.6-t2v"
    code, res, _ = cli(["--request", json.dumps({"prompt": "x", "model": model}), "--dry-run", "--region", region],
                       env={"DASHSCOPE_BASE_URL": ""})
    assert code == 0
    assert res["endpoint"] == host + "/services/aigc/video-generation/video-synthesis"
    assert res["region"] == region


def test_workspace_uses_the_workspace_host():
    code, res, _ = cli(["--request", '{"prompt": "x"}', "--dry-run", "--region", "ap-southeast-1",
                        "--workspace", "ws-123"], env={"DASHSCOPE_BASE_URL": ""})
    assert code == 0
    assert res["endpoint"].startswith("https://ws-123.ap-southeast-1.maas.aliyuncs.com/api/v1/")


def test_region_from_the_environment_and_base_url_overriding_all():
    code, res, _ = cli(["--request", '{"prompt": "x"}', "--dry-run"],
                       env={"DASHSCOPE_BASE_URL": "", "WAN_VIDEO_REGION": "ap-southeast-1"})
    assert res["region"] == "ap-southeast-1" and "dashscope-intl" in res["endpoint"]
    code, res, _ = cli(["--request", '{"prompt": "x"}', "--dry-run"],
                       env={"DASHSCOPE_BASE_URL": "http://127.0.0.1:1/api/v1", "WAN_VIDEO_REGION": "us-east-1"})
    assert res["endpoint"].startswith("http://127.0.0.1:1/api/v1/") and res["endpoint_source"] == "env:DASHSCOPE_BASE_URL"


def test_a_region_only_model_in_the_wrong_region_is_exit_3_before_any_network(emulator):
    before = len(emulator.stats()["requests"])
    code, res, _ = cli(["--request", '{"prompt": "x", "model": "wan2.6-i2v-us", "reference_image": "https://e/x.png"}'])
    assert code == 3
    assert res["error"]["code"] == "ModelNotInRegion"
    assert res["error"]["message"] == "model 'wan2.6-i2v-us' is not served in region cn-beijing (only in us-east-1)"
    assert "--region us-east-1" in res["error"]["hint"]
    assert len(emulator.stats()["requests"]) == before


def test_singapore_gets_the_wan21_name_and_runs_end_to_end(emulator):
    os.environ["DASHSCOPE_BASE_URL"] = emulator.region_api_url("ap-southeast-1")
    req = {"prompt": "a cat", "model": "wanx2.1-t2v-turbo", "size": "832*480", "region": "ap-southeast-1"}
    code, res, _ = cli(["--request", json.dumps(req), "--dry-run"])
    assert res["wire_body"]["model"] == "wan2.1-t2v-turbo"
    assert "model 'wanx2.1-t2v-turbo' is called 'wan2.1-t2v-turbo' in ap-southeast-1; sending that name" in res["warnings"]
    code, res, err = cli(["--request", json.dumps(req), "--timeout", "60"])
    assert code == 0, (res, err)
    assert res["region"] == "ap-southeast-1"
    assert emulator.stats()["tasks"][0]["model"] == "wan2.1-t2v-turbo"


# ------------------------------------------------------------------ doctor
def test_doctor_against_the_emulator_is_ok_and_creates_nothing(emulator, out_dir):
    code, res, _ = cli(["doctor", "--model", "wan2.6-i2v-flash"])
    assert code == 0, res
    assert res["ok"] is True and res["costs_nothing"] is True
    assert {c["check"]: c["ok"] for c in res["checks"]} == {
        "region": True, "model": True, "api_key": True, "reachable": True, "key_accepted": True}
    assert emulator.stats()["created_tasks"] == 0
    assert (Path(res["evidence_dir"]) / "doctor.json").is_file()


def test_doctor_against_a_closed_port_is_exit_6():
    code, res, _ = cli(["doctor"], env={"DASHSCOPE_BASE_URL": f"http://127.0.0.1:{_closed_port()}/api/v1"})
    assert code == 6
    reach = next(c for c in res["checks"] if c["check"] == "reachable")
    assert reach["ok"] is False and res["error"]["code"] == "NetworkError"


# ------------------------------------------------------------------ cost
@pytest.mark.parametrize("request_, region, currency, amount, amount_cny", [
    ({"prompt": "x", "model": "wan2.6-t2v", "size": "1920*1080", "duration": 5}, "cn-beijing", "CNY", 5.0, 5.0),
    ({"prompt": "x", "model": "wan2.6-t2v", "size": "1280*720", "duration": 10}, "cn-beijing", "CNY", 6.0, 6.0),
    ({"prompt": "x", "model": "wan2.6-i2v-flash", "resolution": "720P", "duration": 10,
      "reference_image": "https://e/x.png"}, "cn-beijing", "CNY", 3.0, 3.0),
    ({"prompt": "x", "model": "wan2.6-i2v-flash", "resolution": "720P", "duration": 10, "audio": False,
      "reference_image": "https://e/x.png"}, "cn-beijing", "CNY", 1.5, 1.5),
    ({"prompt": "x", "model": "wan2.2-t2v-plus", "size": "832*480"}, "cn-beijing", "CNY", 0.7, 0.7),
    ({"prompt": "x", "model": "wanx2.1-t2v-turbo", "size": "1280*720"}, "ap-southeast-1", "USD", 0.18, 1.321063),
    ({"prompt": "x", "model": "wan2.6-t2v", "size": "1920*1080", "duration": 5}, "us-east-1", "USD", 0.75, 5.50443),
])
def test_cost_estimates_follow_the_catalog_prices(request_, region, currency, amount, amount_cny):
    code, res, _ = cli(["--request", json.dumps(request_), "--dry-run", "--region", region])
    assert code == 0, res
    assert res["cost"]["currency"] == currency
    assert res["cost"]["amount"] == pytest.approx(amount)
    assert res["cost_cny"] == pytest.approx(amount_cny, abs=1e-5)


def test_free_quota_is_mentioned_not_assumed():
    code, res, _ = cli(["--request", '{"prompt": "x", "model": "wan2.6-t2v"}', "--dry-run"])
    assert "50 free seconds" in res["cost"]["note"] and res["cost_cny"] == 5.0
    code, res, _ = cli(["--request", '{"prompt": "x", "model": "wan2.6-t2v"}', "--dry-run", "--region", "ap-southeast-1"])
    assert "note" not in res["cost"]


def test_max_cost_refuses_before_any_submit(emulator):
    before = len(emulator.stats()["requests"])
    code, res, _ = cli(["--request", '{"prompt": "x", "model": "wan2.6-t2v", "duration": 10}', "--max-cost", "2"])
    assert code == 7
    assert res["error"]["code"] == "CostLimitExceeded"
    assert res["error"]["message"].startswith("estimated cost 10.0000 CNY (wan2.6-t2v, 1080P, 10s)")
    assert res["error"]["details"]["estimate"]["amount_cny"] == 10.0
    assert len(emulator.stats()["requests"]) == before


def test_actual_cost_is_ledgered_and_spend_sums_it(emulator):
    req = {"prompt": "a cat", "model": "wan2.5-t2v-preview", "size": "832*480"}
    code, res, _ = cli(["--request", json.dumps(req), "--timeout", "60"])
    assert code == 0 and res["cost"]["source"] == "usage"
    code, spend, _ = cli(["spend"])
    assert code == 0
    assert spend["tasks"] == 1 and spend["by_model_cny"] == {"wan2.5-t2v-preview": 1.5}
    assert spend["total_cny"] == 1.5
