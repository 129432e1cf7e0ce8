"""The emulator speaks the DashScope async-task protocol: bodies, errors, limits, OSS, control."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from emulator_support import HEADERS, KEY, KF2V_PATH, T2V_PATH, Api, data_url, png_bytes

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CLOCK = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")
CHINA = timezone(timedelta(hours=8))
IMG = data_url(320, 240)
T2V = {"model": "wanx2.1-t2v-turbo", "input": {"prompt": "a red fox"}, "parameters": {"size": "832*480"}}
OSS_HEADERS = {**HEADERS, "X-DashScope-OssResourceResolve": "enable"}
TURBO_SIZES = "832*480, 480*832, 624*624, 1280*720, 720*1280, 960*960, 1088*832, 832*1088"


@pytest.fixture
def api(emulator):
    client = Api(emulator.api_url)
    yield client
    client.close()


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert set(body) == {"code", "message", "request_id"}, body
    assert body["request_id"] == response.headers["x-request-id"]
    return response.status_code, body["code"], body["message"]


# ---------------------------------------------------------------- submit errors

NO_ASYNC = {"Authorization": f"Bearer {KEY}"}
SUBMIT_ERRORS = [
    # id, path, headers, body, (status, code, message)
    ("no key", T2V_PATH, {"X-DashScope-Async": "enable"}, T2V,
     (401, "InvalidApiKey", "No API-key provided.")),
    ("empty bearer", T2V_PATH, {"Authorization": "Bearer", "X-DashScope-Async": "enable"}, T2V,
     (401, "InvalidApiKey", "No API-key provided.")),
    ("wrong key", T2V_PATH, {"Authorization": "Bearer sk-nope", "X-DashScope-Async": "enable"}, T2V,
     (401, "InvalidApiKey", "Invalid API-key provided.")),
    ("not bearer", T2V_PATH, {"Authorization": KEY, "X-DashScope-Async": "enable"}, T2V,
     (401, "InvalidApiKey", "Invalid API-key provided.")),
    ("synchronous", T2V_PATH, NO_ASYNC, T2V,
     (403, "AccessDenied", "current user api does not support synchronous calls.")),
    ("not json", T2V_PATH, HEADERS, b"model=wan",
     (400, "InvalidParameter", "Required body invalid, please check the request body format.")),
    ("json array", T2V_PATH, HEADERS, [T2V],
     (400, "InvalidParameter", "Required body invalid, please check the request body format.")),
    ("no model", T2V_PATH, HEADERS, {"input": {"prompt": "x"}},
     (400, "BadRequest.EmptyModel", 'Required parameter "model" missing from request.')),
    ("unknown model", T2V_PATH, HEADERS, {**T2V, "model": "wanx-i2v-v1"},
     (400, "InvalidParameter", "Model not exist.")),
    ("intl name in Beijing", T2V_PATH, HEADERS, {**T2V, "model": "wan2.1-t2v-turbo"},
     (400, "InvalidParameter", "Model not exist.")),
    ("kf2v on video-generation", T2V_PATH, HEADERS,
     {"model": "wanx2.1-kf2v-plus", "input": {"first_frame_url": IMG}},
     (400, "InvalidParameter", "url error, please check url!")),
    ("t2v on image2video", KF2V_PATH, HEADERS, T2V,
     (400, "InvalidParameter", "url error, please check url!")),
    ("unknown service", "/services/aigc/text2video/video-synthesis", HEADERS, T2V,
     (400, "InvalidParameter", "url error, please check url!")),
    ("no input", T2V_PATH, HEADERS, {"model": "wanx2.1-t2v-turbo"},
     (400, "BadRequest.EmptyInput", "Required input parameter missing from request.")),
    ("t2v without prompt", T2V_PATH, HEADERS, {"model": "wan2.6-t2v", "input": {"negative_prompt": "x"}},
     (400, "InvalidParameter", "Field required: input.prompt")),
    ("i2v without image", T2V_PATH, HEADERS, {"model": "wan2.6-i2v", "input": {"prompt": "x"}},
     (400, "InvalidParameter", "Field required: input.img_url")),
    ("kf2v without first frame", KF2V_PATH, HEADERS,
     {"model": "wanx2.1-kf2v-plus", "input": {"prompt": "x", "last_frame_url": IMG}},
     (400, "InvalidParameter", "Field required: input.first_frame_url")),
    ("wan2.7-i2v with img_url", T2V_PATH, HEADERS,
     {"model": "wan2.7-i2v", "input": {"prompt": "x", "img_url": IMG}},
     (400, "InvalidParameter", "Field required: input.media")),
    ("r2v without references", T2V_PATH, HEADERS, {"model": "wan2.6-r2v", "input": {"prompt": "x"}},
     (400, "InvalidParameter", "Field required: input.reference_urls")),
    ("oss url without resolve header", T2V_PATH, HEADERS,
     {"model": "wan2.6-i2v", "input": {"img_url": "oss://dashscope-instant/a/b.png"}},
     (400, "InvalidParameter",
      "The provided URL does not appear to be valid. Ensure it is correctly formatted.")),
    ("ftp url", T2V_PATH, HEADERS, {"model": "wan2.6-i2v", "input": {"img_url": "ftp://host/a.png"}},
     (400, "InvalidParameter",
      "The provided URL does not appear to be valid. Ensure it is correctly formatted.")),
    ("local path", T2V_PATH, HEADERS, {"model": "wan2.6-i2v", "input": {"img_url": "/tmp/cat.png"}},
     (400, "InvalidParameter",
      "The provided URL does not appear to be valid. Ensure it is correctly formatted.")),
]


@pytest.mark.parametrize(
    "path, headers, body, expected", [c[1:] for c in SUBMIT_ERRORS], ids=[c[0] for c in SUBMIT_ERRORS]
)
def test_submit_errors_use_the_documented_status_code_and_words(api, emulator, path, headers, body, expected):
    if isinstance(body, bytes):
        response = api.http.post(path, content=body, headers=headers)
    else:
        response = api.submit(body, path=path, headers=headers)
    assert _error(response) == expected
    assert emulator.stats()["created_tasks"] == 0


@pytest.mark.parametrize("region, model, ok", [
    ("ap-southeast-1", "wan2.1-t2v-turbo", True),
    ("ap-southeast-1", "wanx2.1-t2v-turbo", False),
    ("us-east-1", "wan2.6-t2v-us", True),
    ("us-east-1", "wanx2.1-t2v-turbo", False),
])
def test_regions_serve_the_names_the_catalog_gives_them(emulator, region, model, ok):
    regional = Api(emulator.region_api_url(region))
    body = {"model": model, "input": {"prompt": "x"}}
    response = regional.submit(body)
    regional.close()
    if ok:
        assert response.status_code == 200
    else:
        assert _error(response) == (400, "InvalidParameter", "Model not exist.")


def test_tasks_are_only_visible_in_their_region(api, emulator):
    singapore = Api(emulator.region_api_url("ap-southeast-1"))
    task_id = singapore.create({"model": "wan2.1-t2v-turbo", "input": {"prompt": "x"}})
    assert singapore.get(task_id)["output"]["task_status"] in ("PENDING", "RUNNING")
    assert api.get(task_id)["output"] == {"task_id": task_id, "task_status": "UNKNOWN"}
    singapore.close()


def test_unknown_region_is_not_found(emulator):
    response = httpx.get(emulator.base_url + "/regions/mars-1/api/v1/tasks/x", headers=HEADERS)
    assert _error(response) == (404, "NotFound", "Not Found.")


# ---------------------------------------------------------------- submit and query bodies


def test_submit_answers_pending_with_ids_matching_the_header(api):
    response = api.submit(T2V)
    body = response.json()
    assert response.status_code == 200
    assert list(body) == ["output", "request_id"]
    assert list(body["output"]) == ["task_status", "task_id"]
    assert body["output"]["task_status"] == "PENDING"
    assert UUID.match(body["output"]["task_id"]) and UUID.match(body["request_id"])
    assert response.headers["x-request-id"] == body["request_id"]


def test_submit_tolerates_what_the_1x_sdk_adds(api, emulator):
    body = {
        "model": "wanx2.1-t2v-turbo",
        "input": {"prompt": "x", "extend_prompt": True, "function": "video-synthesis"},
        "parameters": {"size": "832*480", "fps": 24, "motion_strength": 0.5, "audio": True},
    }
    task_id = api.create(body)
    assert api.wait(task_id)["output"]["task_status"] == "SUCCEEDED"
    assert emulator.stats()["tasks"][0]["parameters"] == body["parameters"]


def _china(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=CHINA).timestamp()


def test_a_task_goes_pending_running_succeeded_with_documented_fields(api, emulator):
    emulator.scenario(pending_seconds=0.3, run_seconds=0.3)
    before = time.time()
    task_id = api.create(T2V)
    seen, bodies = [], {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = api.get(task_id)
        status = body["output"]["task_status"]
        bodies[status] = body
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "SUCCEEDED":
            break
        time.sleep(0.03)
    assert seen == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert list(bodies["PENDING"]["output"]) == ["task_id", "task_status", "submit_time"]
    assert list(bodies["RUNNING"]["output"]) == ["task_id", "task_status", "submit_time", "scheduled_time"]
    done = bodies["SUCCEEDED"]
    assert list(done) == ["request_id", "output", "usage"]
    assert "code" not in done
    out = done["output"]
    assert list(out) == [
        "task_id", "task_status", "submit_time", "scheduled_time", "end_time",
        "orig_prompt", "actual_prompt", "video_url",
    ]
    times = [_china(out[k]) for k in ("submit_time", "scheduled_time", "end_time")]
    assert all(CLOCK.match(out[k]) for k in ("submit_time", "scheduled_time", "end_time"))
    assert before - 1 < times[0] < times[1] < times[2] < time.time() + 1
    assert times[1] - times[0] == pytest.approx(0.3, abs=0.05)
    assert times[2] - times[1] == pytest.approx(0.3, abs=0.05)
    assert out["orig_prompt"] == "a red fox"
    assert re.match(
        rf"^{re.escape(emulator.base_url)}/_oss_result/{task_id}\.mp4\?Expires=\d+"
        r"&OSSAccessKeyId=\w+&Signature=[\w%]+$",
        out["video_url"],
    )


IMAGE = {"img_url": IMG}
USAGE_CASES = [
    ("wan2.6-t2v", T2V_PATH, {"prompt": "p"}, {"size": "1280*720", "duration": 2},
     {"duration": 2, "size": "1280*720", "input_video_duration": 0, "output_video_duration": 2,
      "video_count": 1, "SR": 720}),
    ("wan2.6-r2v", T2V_PATH, {"prompt": "character1 waves", "reference_urls": [IMG]},
     {"size": "1280*720", "duration": 2},
     {"duration": 2, "size": "1280*720", "input_video_duration": 0, "output_video_duration": 2,
      "video_count": 1, "SR": 720}),
    ("wan2.6-i2v", T2V_PATH, IMAGE, {"resolution": "720P", "duration": 2},
     {"duration": 2, "input_video_duration": 0, "output_video_duration": 2, "video_count": 1, "SR": 720}),
    ("wan2.6-i2v-flash", T2V_PATH, IMAGE, {"resolution": "720P", "duration": 2, "audio": False},
     {"duration": 2, "input_video_duration": 0, "output_video_duration": 2, "video_count": 1, "SR": 720,
      "audio": False}),
    ("wan2.7-t2v", T2V_PATH, {"prompt": "p"}, {"resolution": "720P", "ratio": "1:1", "duration": 2},
     {"duration": 2, "input_video_duration": 0, "output_video_duration": 2, "video_count": 1,
      "ratio": "1:1", "SR": 720}),
    ("wan2.5-t2v-preview", T2V_PATH, {"prompt": "p"}, {"size": "832*480"},
     {"video_duration": 5, "video_ratio": "832*480", "video_count": 1}),
    ("wan2.5-i2v-preview", T2V_PATH, IMAGE, {"resolution": "480P"},
     {"duration": 5, "SR": 480, "video_count": 1}),
    ("wan2.2-i2v-flash", T2V_PATH, IMAGE, {"resolution": "480P"},
     {"duration": 5, "SR": 480, "video_count": 1}),
    ("wan2.2-kf2v-flash", KF2V_PATH, {"first_frame_url": IMG}, {"resolution": "480P"},
     {"video_duration": 5, "video_count": 1, "SR": 480}),
    ("wanx2.1-i2v-turbo", T2V_PATH, IMAGE, {"duration": 3},
     {"video_duration": 3, "video_ratio": "standard", "video_count": 1}),
    ("wanx2.1-kf2v-plus", KF2V_PATH, {"first_frame_url": IMG, "last_frame_url": IMG}, {},
     {"video_duration": 5, "video_ratio": "standard", "video_count": 1}),
]


@pytest.mark.parametrize(
    "model, path, input_, parameters, usage", [c for c in USAGE_CASES], ids=[c[0] for c in USAGE_CASES]
)
def test_usage_has_the_shape_of_the_models_generation(api, emulator, model, path, input_, parameters, usage):
    emulator.scenario(pending_seconds=0, run_seconds=0)
    task_id = api.create({"model": model, "input": input_, "parameters": parameters}, path=path)
    body = api.wait(task_id)
    assert body["output"]["task_status"] == "SUCCEEDED", body
    assert body["usage"] == usage
    assert list(body["usage"]) == list(usage)


@pytest.mark.parametrize("model, extend, has_actual", [
    ("wan2.5-t2v-preview", None, True),
    ("wan2.5-t2v-preview", False, False),
    ("wan2.6-t2v", None, False),
    ("wan2.7-t2v", None, False),
])
def test_actual_prompt_only_where_the_docs_show_it(api, emulator, model, extend, has_actual):
    emulator.scenario(pending_seconds=0, run_seconds=0)
    parameters = {} if extend is None else {"prompt_extend": extend}
    size = {"wan2.5-t2v-preview": {"size": "832*480"}, "wan2.6-t2v": {"size": "1280*720"}}
    parameters.update(size.get(model, {"resolution": "720P"}))
    task_id = api.create({"model": model, "input": {"prompt": "p"}, "parameters": parameters})
    assert ("actual_prompt" in api.wait(task_id)["output"]) is has_actual


def test_an_over_long_prompt_is_cut_silently(api, emulator):
    emulator.scenario(pending_seconds=0, run_seconds=0)
    prompt = "".join(f"{i % 10}" for i in range(1000))
    task_id = api.create({**T2V, "input": {"prompt": prompt}})
    assert api.wait(task_id)["output"]["orig_prompt"] == prompt[:800]  # wanx2.1 prompt_max


FAILURE_CASES = [
    ("size", "wanx2.1-t2v-turbo", {"prompt": "p"}, {"size": "1920*1080"}, HEADERS,
     ("InvalidParameter", f"The size is not match, supported sizes: {TURBO_SIZES}")),
    ("size with x", "wanx2.1-t2v-turbo", {"prompt": "p"}, {"size": "832x480"}, HEADERS,
     ("InvalidParameter", f"The size is not match, supported sizes: {TURBO_SIZES}")),
    ("duration range", "wan2.6-t2v", {"prompt": "p"}, {"duration": 20}, HEADERS,
     ("InvalidParameter", "The duration is not match, supported durations: 2-15")),
    ("duration values", "wan2.5-t2v-preview", {"prompt": "p"}, {"duration": 7}, HEADERS,
     ("InvalidParameter", "The duration is not match, supported durations: 5, 10")),
    ("duration text", "wan2.6-t2v", {"prompt": "p"}, {"duration": "5"}, HEADERS,
     ("InvalidParameter", "The duration is not match, supported durations: 2-15")),
    ("resolution", "wanx2.1-i2v-plus", IMAGE, {"resolution": "480P"}, HEADERS,
     ("InvalidParameter", "The resolution is not match, supported resolutions: 720P")),
    ("ratio", "wan2.7-t2v", {"prompt": "p"}, {"ratio": "2:1"}, HEADERS,
     ("InvalidParameter", "The ratio is not match, supported ratios: 16:9, 9:16, 1:1, 4:3, 3:4")),
    ("media combination", "wan2.7-i2v", {"media": [{"type": "last_frame", "url": IMG}]}, {}, HEADERS,
     ("InvalidParameter", "The media combination is not supported: last_frame.")),
    ("unreachable host", "wan2.6-i2v", {"img_url": "https://example.com/cat.png"}, {}, HEADERS,
     ("InvalidParameter.DataInspection",
      "Unable to download the media resource during the data inspection process.")),
    ("no such upload", "wan2.6-i2v", {"img_url": "oss://dashscope-instant/a/b/c.png"}, {}, OSS_HEADERS,
     ("InvalidParameter.DataInspection",
      "Failed to find the requested media resource during the data inspection process.")),
    ("not an image", "wan2.6-i2v", {"img_url": "data:image/png;base64,aGVsbG8="}, {}, HEADERS,
     ("InvalidParameter.DataInspection",
      "The media format is not supported or incorrect for the data inspection.")),
    ("image too small", "wan2.6-i2v", {"img_url": data_url(200, 300)}, {}, HEADERS,
     ("InvalidParameter", "The image width and height must be between 240 and 8000 pixels.")),
]


@pytest.mark.parametrize(
    "model, input_, parameters, headers, failure", [c[1:] for c in FAILURE_CASES],
    ids=[c[0] for c in FAILURE_CASES],
)
def test_bad_parameters_are_accepted_then_the_task_fails(api, model, input_, parameters, headers, failure):
    task_id = api.create({"model": model, "input": input_, "parameters": parameters}, headers=headers)
    body = api.wait(task_id)
    out = body["output"]
    assert list(body) == ["request_id", "output"]
    assert list(out) == [
        "task_id", "task_status", "submit_time", "scheduled_time", "end_time", "code", "message",
    ]
    assert (out["task_status"], out["code"], out["message"]) == ("FAILED", *failure)


def test_a_loopback_http_image_is_fetched(api, emulator, tmp_path):
    (tmp_path / "cat.png").write_bytes(png_bytes(480, 320))
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..."
        port = int(re.search(r"port (\d+)", line).group(1))
        emulator.scenario(pending_seconds=0, run_seconds=0)
        url = f"http://127.0.0.1:{port}/cat.png"
        task_id = api.create({"model": "wan2.2-i2v-flash", "input": {"img_url": url},
                              "parameters": {"resolution": "480P"}})
        assert api.wait(task_id)["output"]["task_status"] == "SUCCEEDED"
        missing = api.create({"model": "wan2.2-i2v-flash", "input": {"img_url": url + ".gone"}})
        assert api.wait(missing)["output"]["code"] == "InvalidParameter.DataInspection"
    finally:
        server.terminate()
        server.wait()


def test_unknown_ids_answer_unknown_with_200(api):
    task_id = str(uuid.uuid4())
    response = api.http.get(f"/tasks/{task_id}", headers=HEADERS)
    body = response.json()
    assert response.status_code == 200
    assert body == {"request_id": response.headers["x-request-id"],
                    "output": {"task_id": task_id, "task_status": "UNKNOWN"}}


def test_tasks_expire_after_their_ttl(api, emulator):
    emulator.scenario(task_ttl_seconds=0.3, pending_seconds=0, run_seconds=0)
    task_id = api.create(T2V)
    assert api.get(task_id)["output"]["task_status"] == "SUCCEEDED"
    time.sleep(0.35)
    assert api.get(task_id)["output"]["task_status"] == "UNKNOWN"
    assert api.http.get("/tasks", headers=HEADERS).json()["total"] == 0


def test_query_needs_a_key(api):
    response = api.http.get(f"/tasks/{uuid.uuid4()}")
    assert _error(response) == (401, "InvalidApiKey", "No API-key provided.")


# ---------------------------------------------------------------- cancel


def test_cancel_a_pending_task(api, emulator):
    emulator.scenario(pending_seconds=5)
    task_id = api.create(T2V)
    response = api.http.post(f"/tasks/{task_id}/cancel", headers=HEADERS)
    assert response.status_code == 200
    assert response.json() == {"request_id": response.headers["x-request-id"]}
    out = api.get(task_id)["output"]
    assert list(out) == ["task_id", "task_status", "submit_time", "end_time"]
    assert out["task_status"] == "CANCELED"
    again = api.http.post(f"/tasks/{task_id}/cancel", headers=HEADERS)
    assert _error(again) == (
        400, "UnsupportedOperation",
        "Failed to cancel the task, please confirm if the task is in PENDING status.",
    )


@pytest.mark.parametrize("state", ["RUNNING", "SUCCEEDED", "unknown"])
def test_only_pending_tasks_can_be_canceled(api, emulator, state):
    emulator.scenario(pending_seconds=0, run_seconds=0 if state == "SUCCEEDED" else 5)
    task_id = api.create(T2V) if state != "unknown" else str(uuid.uuid4())
    if state != "unknown":
        assert api.get(task_id)["output"]["task_status"] == state
    response = api.http.post(f"/tasks/{task_id}/cancel", headers=HEADERS)
    assert _error(response)[:2] == (400, "UnsupportedOperation")


# ---------------------------------------------------------------- list


def test_list_pages_newest_first_with_the_documented_keys(api, emulator):
    emulator.scenario(pending_seconds=0, run_seconds=0, limits=False)
    ids = [api.create(T2V) for _ in range(3)]
    running = api.create({"model": "wan2.2-kf2v-flash", "input": {"first_frame_url": IMG}}, path=KF2V_PATH)
    response = api.http.get("/tasks", params={"page_size": 2, "page_no": 1}, headers=HEADERS)
    body = response.json()
    assert list(body) == ["total", "data", "total_page", "page_no", "request_id", "page_size"]
    assert (body["total"], body["total_page"], body["page_no"], body["page_size"]) == (4, 2, 1, 2)
    assert body["request_id"] == response.headers["x-request-id"]
    assert [t["task_id"] for t in body["data"]] == [running, ids[2]]
    item = body["data"][0]
    assert list(item) == [
        "api_key_id", "caller_parent_id", "caller_uid", "end_time", "gmt_create", "model_name", "region",
        "request_id", "start_time", "status", "task_id", "user_api_unique_key",
    ]
    assert item["user_api_unique_key"] == "apikey:v1:aigc:image2video:video-synthesis:wan2.2-kf2v-flash"
    assert body["data"][1]["user_api_unique_key"] == (
        "apikey:v1:aigc:video-generation:video-synthesis:wanx2.1-t2v-turbo"
    )
    assert abs(item["gmt_create"] / 1000 - time.time()) < 5
    page2 = api.http.get("/tasks/", params={"page_size": 2, "page_no": 2}, headers=HEADERS).json()
    assert [t["task_id"] for t in page2["data"]] == [ids[1], ids[0]]


def test_list_filters(api, emulator):
    emulator.scenario(pending_seconds=5)
    first = api.create(T2V)
    api.create({"model": "wanx2.1-t2v-plus", "input": {"prompt": "x"}})
    api.http.post(f"/tasks/{first}/cancel", headers=HEADERS)
    now = datetime.now(CHINA)

    def listed(**params):
        return [t["task_id"] for t in api.http.get("/tasks", params=params, headers=HEADERS).json()["data"]]

    assert listed(model_name="wanx2.1-t2v-turbo") == [first]
    assert listed(status="CANCELED") == [first]
    assert listed(task_id=first) == [first]
    assert len(listed(start_time=(now - timedelta(minutes=1)).strftime("%Y%m%d%H%M%S"),
                      end_time=now.strftime("%Y%m%d%H%M%S"))) == 2
    assert listed(end_time=(now - timedelta(hours=1)).strftime("%Y%m%d%H%M%S")) == []
    bad = api.http.get("/tasks", params={"start_time": "yesterday"}, headers=HEADERS)
    assert _error(bad) == (
        400, "InvalidParameter",
        "Required parameter(start_time) missing or invalid, please check the request parameters.",
    )


# ---------------------------------------------------------------- uploads


def _policy(api, model="wan2.6-i2v") -> dict:
    response = api.http.get("/uploads", params={"action": "getPolicy", "model": model}, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _post(grant: dict, name: str, data: bytes, **overrides: str) -> httpx.Response:
    """An OSS PostObject as the SDK sends it (fields in its order, file last)."""
    form = {
        "OSSAccessKeyId": grant["oss_access_key_id"],
        "Signature": grant["signature"],
        "policy": grant["policy"],
        "key": f"{grant['upload_dir']}/{name}",
        "x-oss-object-acl": grant["x_oss_object_acl"],
        "x-oss-forbid-overwrite": grant["x_oss_forbid_overwrite"],
        "success_action_status": "200",
        "x-oss-content-type": "image/png",
        **overrides,
    }
    return httpx.post(grant["upload_host"], data=form, files={"file": (name, data)})


def test_upload_policy_has_the_documented_fields(api, emulator):
    response = api.http.get("/uploads", params={"action": "getPolicy", "model": "wan2.6-i2v"},
                            headers=HEADERS)
    body = response.json()
    assert list(body) == ["data", "request_id"]
    data = body["data"]
    assert list(data) == [
        "policy", "signature", "upload_dir", "upload_host", "expire_in_seconds", "max_file_size_mb",
        "capacity_limit_mb", "oss_access_key_id", "x_oss_object_acl", "x_oss_forbid_overwrite",
    ]
    assert data["upload_host"] == f"{emulator.base_url}/_oss"
    assert (data["expire_in_seconds"], data["max_file_size_mb"]) == (300, 100)
    assert (data["x_oss_object_acl"], data["x_oss_forbid_overwrite"]) == ("private", "true")
    assert re.match(r"^dashscope-instant/[0-9a-f]{32}/\d{4}-\d{2}-\d{2}/[0-9a-f-]{36}$", data["upload_dir"])
    policy = json.loads(base64.b64decode(data["policy"]))
    assert ["starts-with", "$key", data["upload_dir"]] in policy["conditions"]


@pytest.mark.parametrize("params, expected", [
    ({"action": "getPolicy"}, (400, "BadRequest.EmptyModel", 'Required parameter "model" missing from request.')),
    ({"action": "getPolicy", "model": "nope"}, (400, "InvalidParameter", "Model not exist.")),
    ({"action": "list", "model": "wan2.6-i2v"}, (400, "InvalidParameter",
     "Required parameter(action) missing or invalid, please check the request parameters.")),
])
def test_upload_policy_errors(api, params, expected):
    assert _error(api.http.get("/uploads", params=params, headers=HEADERS)) == expected


def test_an_uploaded_image_resolves_only_with_the_resolve_header(api, emulator):
    emulator.scenario(pending_seconds=0, run_seconds=0)
    policy = _policy(api)
    response = _post(policy, "cat.png", png_bytes(480, 320))
    assert (response.status_code, response.content) == (200, b"")
    url = f"oss://{policy['upload_dir']}/cat.png"
    body = {"model": "wan2.6-i2v", "input": {"img_url": url}, "parameters": {"resolution": "720P", "duration": 2}}
    assert _error(api.submit(body))[2].startswith("The provided URL does not appear to be valid.")
    task_id = api.create(body, headers=OSS_HEADERS)
    assert api.wait(task_id)["output"]["task_status"] == "SUCCEEDED"
    assert emulator.stats()["tasks"][0]["input_summary"]["img_url"] == url


@pytest.mark.parametrize("change, status, code", [
    ({"Signature": "AAAA"}, 403, "SignatureDoesNotMatch"),
    ({"key": "dashscope-instant/elsewhere/cat.png"}, 403, "AccessDenied"),
    ({"policy": ""}, 400, "InvalidArgument"),
])
def test_oss_rejects_a_tampered_post_with_xml(api, change, status, code):
    response = _post(_policy(api), "cat.png", b"x", **change)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/xml"
    assert f"<Code>{code}</Code>" in response.text
    assert f"<RequestId>{response.headers['x-request-id']}</RequestId>" in response.text


def test_oss_forbids_overwriting_an_object(api):
    policy = _policy(api)
    assert _post(policy, "cat.png", b"one").status_code == 200
    again = _post(policy, "cat.png", b"two")
    assert again.status_code == 409 and "<Code>FileAlreadyExists</Code>" in again.text


# ---------------------------------------------------------------- limits


def test_submits_beyond_the_familys_rps_are_throttled(api, emulator):
    # wanx2.1 allows 2 submits per second (catalog); wan2.6 is a separate family.
    responses = [api.submit(T2V) for _ in range(3)]
    assert [r.status_code for r in responses[:2]] == [200, 200]
    assert _error(responses[2]) == (
        429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
    assert api.submit({"model": "wan2.6-t2v", "input": {"prompt": "x"}}).status_code == 200
    stats = emulator.stats()
    assert (stats["submits"], stats["created_tasks"], stats["throttled"]) == (4, 3, 1)
    time.sleep(1.05)
    assert api.submit(T2V).status_code == 200


def test_the_singapore_kf2v_limit_is_one_per_second(emulator):
    singapore = Api(emulator.region_api_url("ap-southeast-1"))
    body = {"model": "wan2.1-kf2v-plus", "input": {"first_frame_url": IMG}}
    codes = [singapore.submit(body, path=KF2V_PATH).status_code for _ in range(2)]
    singapore.close()
    assert codes == [200, 429]


def test_tasks_beyond_concurrency_wait_pending(api, emulator):
    emulator.scenario(pending_seconds=0, run_seconds=0.4, rps=100)  # wanx2.1: 2 at a time
    ids = [api.create(T2V) for _ in range(3)]
    assert [api.get(t)["output"]["task_status"] for t in ids] == ["RUNNING", "RUNNING", "PENDING"]
    outs = [api.wait(t)["output"] for t in ids]
    assert all(o["task_status"] == "SUCCEEDED" for o in outs)
    third_start, first_end = _china(outs[2]["scheduled_time"]), _china(outs[0]["end_time"])
    assert third_start == pytest.approx(first_end, abs=0.002)
    assert emulator.stats()["max_running_by_family"] == {"wanx2.1": 2}


def test_a_canceled_queued_task_frees_its_turn(api, emulator):
    emulator.scenario(pending_seconds=0, run_seconds=0.2, concurrency=1, rps=100)
    running, queued, last = [api.create(T2V) for _ in range(3)]
    assert api.http.post(f"/tasks/{queued}/cancel", headers=HEADERS).status_code == 200
    started = _china(api.wait(last)["output"]["scheduled_time"])
    assert started == pytest.approx(_china(api.get(running)["output"]["end_time"]), abs=0.002)


def test_query_rate_is_limited_per_account(api, emulator):
    emulator.scenario(query_rps=3)
    codes = [api.http.get(f"/tasks/{uuid.uuid4()}", headers=HEADERS).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert api.http.get("/tasks", headers=HEADERS).status_code == 429


def test_limits_can_be_turned_off(api, emulator):
    emulator.scenario(limits=False, pending_seconds=0, run_seconds=1)
    assert all(api.submit(T2V).status_code == 200 for _ in range(5))
    statuses = {api.get(t["task_id"])["output"]["task_status"] for t in emulator.stats()["tasks"]}
    assert statuses == {"RUNNING"}


# ---------------------------------------------------------------- scripted failures


def test_fail_next_fails_the_next_tasks_after_running(api, emulator):
    emulator.scenario(pending_seconds=0, run_seconds=0.3, rps=100,
                      fail_next=[{"code": "DataInspectionFailed",
                                  "message": "Output data may contain inappropriate content."}])
    failing, passing = api.create(T2V), api.create(T2V)
    assert api.get(failing)["output"]["task_status"] == "RUNNING"
    out = api.wait(failing)["output"]
    assert (out["task_status"], out["code"], out["message"]) == (
        "FAILED", "DataInspectionFailed", "Output data may contain inappropriate content.")
    assert api.wait(passing)["output"]["task_status"] == "SUCCEEDED"


def test_realistic_and_time_scale_set_the_run_time(api, emulator):
    emulator.scenario(realistic=True, time_scale=0.001, pending_seconds=0)  # 180 s -> 0.18 s
    out = api.wait(api.create(T2V))["output"]
    assert _china(out["end_time"]) - _china(out["scheduled_time"]) == pytest.approx(0.18, abs=0.01)
    emulator.scenario(realistic=False, time_scale=1, run_seconds_by_model={"wanx2.1-t2v-turbo": 0.1})
    out = api.wait(api.create({**T2V, "input": {"prompt": "b"}}))["output"]
    assert _china(out["end_time"]) - _china(out["scheduled_time"]) == pytest.approx(0.1, abs=0.01)


# ---------------------------------------------------------------- downloads


@pytest.fixture
def video_url(api, emulator):
    emulator.scenario(pending_seconds=0, run_seconds=0)
    return api.wait(api.create(T2V))["output"]["video_url"]


def test_the_video_is_served_with_length_type_and_ranges(video_url):
    whole = httpx.get(video_url)
    size = len(whole.content)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    assert int(whole.headers["content-length"]) == size
    assert whole.content[4:8] == b"ftyp"
    part = httpx.get(video_url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    tail = httpx.get(video_url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == whole.content[-10:]
    rest = httpx.get(video_url, headers={"Range": f"bytes={size - 5}-"})
    assert rest.content == whole.content[-5:]
    beyond = httpx.get(video_url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    head = httpx.head(video_url)
    assert head.status_code == 200 and head.headers["content-length"] == str(size) and head.content == b""


def test_an_expired_or_forged_url_is_refused_like_oss(api, emulator, video_url):
    forged = httpx.get(re.sub(r"Signature=[^&]+", "Signature=AAAA", video_url))
    assert forged.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in forged.text
    emulator.scenario(url_ttl_seconds=0, pending_seconds=0, run_seconds=0)
    expired_url = api.wait(api.create({**T2V, "input": {"prompt": "c"}}))["output"]["video_url"]
    expired = httpx.get(expired_url)
    assert expired.status_code == 403
    assert expired.headers["content-type"] == "application/xml"
    assert "<Code>AccessDenied</Code>" in expired.text
    assert "<Message>Request has expired.</Message>" in expired.text


def test_padding_appends_a_free_box(emulator, video_url):
    plain = httpx.get(video_url).content
    emulator.scenario(video_padding_bytes=1_000_000)
    padded = httpx.get(video_url)
    assert int(padded.headers["content-length"]) == len(plain) + 1_000_000
    assert padded.content[: len(plain)] == plain
    box = padded.content[len(plain):]
    assert int.from_bytes(box[:4], "big") == 1_000_000 and box[4:8] == b"free"
    assert box[8:] == bytes(1_000_000 - 8)
    middle = httpx.get(video_url, headers={"Range": f"bytes={len(plain) + 2}-{len(plain) + 9}"})
    assert middle.content == box[2:10]


# ---------------------------------------------------------------- control plane and start-up


def test_control_endpoints_over_http(emulator):
    base = emulator.base_url
    merged = httpx.post(f"{base}/_emulator/scenario", json={"run_seconds": 1.5, "keys": ["sk-other"]})
    assert merged.status_code == 200
    assert merged.json()["settings"]["run_seconds"] == 1.5
    assert httpx.get(f"{base}/_emulator/scenario").json()["settings"]["keys"] == ["sk-other"]
    auth = {"Authorization": "Bearer sk-other"}
    assert httpx.get(f"{emulator.api_url}/tasks", headers=auth).status_code == 200
    bad = httpx.post(f"{base}/_emulator/scenario", json={"run_second": 1, "rps": -1})
    assert bad.status_code == 400
    assert bad.json()["message"] == (
        "rps: must be >= 0.0, got -1; unknown setting 'run_second'; known: concurrency, fail_next, "
        "faults, keys, limits, pending_seconds, query_rps, realistic, rps, run_seconds, "
        "run_seconds_by_model, task_ttl_seconds, time_scale, url_ttl_seconds, video_padding_bytes"
    )
    stats = httpx.get(f"{base}/_emulator/stats").json()
    for key in ("submits", "submits_by_model", "created_tasks", "throttled", "polls", "downloads",
                "max_running_by_family", "faults_fired", "tasks", "requests"):
        assert key in stats
    assert stats["requests"][-1]["path"] == "/_emulator/scenario"
    assert set(stats["requests"][0]) == {"method", "path", "status", "time", "seconds", "fault"}
    reset = httpx.post(f"{base}/_emulator/reset").json()["settings"]
    assert (reset["run_seconds"], reset["keys"]) == (0.3, [])
    after = httpx.get(f"{base}/_emulator/stats").json()
    assert [r["path"] for r in after["requests"]] == ["/_emulator/reset"]


def test_the_request_log_keeps_the_last_2000(emulator):
    engine = emulator.service.engine
    for n in range(2100):
        engine.log_request({"n": n})
    log = emulator.stats()["requests"]
    assert len(log) == 2000 and log[0] == {"n": 100}


def test_keys_come_from_the_environment_too(monkeypatch):
    from wan_video.emulator import EmulatorServer

    monkeypatch.setenv("WAN_VIDEO_EMULATOR_KEYS", "sk-env1, sk-env2")
    with EmulatorServer(port=0) as server:
        for key, status in (("sk-env2", 200), ("sk-emulator", 200), ("sk-env3", 401)):
            response = httpx.get(f"{server.api_url}/tasks", headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == status


def test_the_command_line_prints_the_url_and_stops_on_sigterm():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "wan_video.emulator", "--port", "0", "--run-seconds", "0.1",
         "--keys", "sk-cli"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"EMULATOR (http://127\.0\.0\.1:\d+/api/v1)", line)
        assert match, line
        response = httpx.get(f"{match.group(1)}/tasks", headers={"Authorization": "Bearer sk-cli"})
        assert response.status_code == 200
        settings = httpx.get(match.group(1).removesuffix("/api/v1") + "/_emulator/scenario").json()
        assert settings["settings"]["run_seconds"] == 0.1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
