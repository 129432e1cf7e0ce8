"""Every scripted fault kind does to an httpx client what it promises."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from emulator_support import HEADERS, T2V_PATH, Api

T2V = {"model": "wanx2.1-t2v-turbo", "input": {"prompt": "fault drill"}, "parameters": {"size": "832*480"}}
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError)  # reset by peer / closed without answer


@pytest.fixture
def api(emulator):
    emulator.scenario(pending_seconds=0, run_seconds=0)
    client = Api(emulator.api_url)
    yield client
    client.close()


@pytest.fixture
def task_id(api):
    return api.create(T2V)


@pytest.fixture
def video_url(api, task_id):
    return api.wait(task_id)["output"]["video_url"]


def _request(api: Api, op: str, task_id: str | None) -> httpx.Response:
    if op == "submit":
        return api.submit(T2V)
    if op == "poll":
        return api.http.get(f"/tasks/{task_id}", headers=HEADERS)
    if op == "list":
        return api.http.get("/tasks", headers=HEADERS)
    if op == "cancel":
        return api.http.post(f"/tasks/{task_id}/cancel", headers=HEADERS)
    if op == "policy":
        return api.http.get("/uploads", params={"action": "getPolicy", "model": "wan2.6-i2v"}, headers=HEADERS)
    raise AssertionError(op)


JSON_OPS = ["submit", "poll", "list", "cancel", "policy"]


@pytest.mark.parametrize("op", JSON_OPS)
def test_status_defaults_to_the_documented_internal_error(api, emulator, task_id, op):
    emulator.scenario(faults=[{"op": op, "kind": "status"}])
    response = _request(api, op, task_id)
    assert response.status_code == 500
    assert response.json() == {
        "code": "InternalError",
        "message": "An internal error has occured, please try again later or contact service support.",
        "request_id": response.headers["x-request-id"],
    }
    assert _request(api, op, task_id).status_code != 500  # count 1: the next one is normal
    assert emulator.stats()["faults_fired"] == {f"{op}:status": 1}


def test_status_429_is_rate_quota_with_retry_after(api, emulator):
    emulator.scenario(faults=[{"op": "submit", "kind": "status", "status": 429, "retry_after": 3}])
    response = api.submit(T2V)
    assert (response.status_code, response.headers["retry-after"]) == (429, "3")
    assert response.json()["code"] == "Throttling.RateQuota"
    assert response.json()["message"] == "Requests rate limit exceeded, please try again later."
    assert emulator.stats()["created_tasks"] == 0


def test_status_with_own_code_and_message(api, emulator):
    emulator.scenario(faults=[{"op": "poll", "kind": "status", "status": 503, "code": "ServiceUnavailable",
                               "message": "busy"}])
    response = _request(api, "poll", "x")
    assert (response.status_code, response.json()["code"], response.json()["message"]) == (
        503, "ServiceUnavailable", "busy")


@pytest.mark.parametrize("op", ["download", "upload"])
def test_status_on_oss_answers_xml(api, emulator, video_url, op):
    emulator.scenario(faults=[{"op": op, "kind": "status", "status": 503}])
    response = httpx.get(video_url) if op == "download" else httpx.post(emulator.base_url + "/_oss")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/xml"
    assert "<Code>InternalError</Code>" in response.text


@pytest.mark.parametrize("op", [*JSON_OPS, "download", "upload"])
def test_reset_drops_the_connection_without_an_answer(api, emulator, video_url, task_id, op):
    emulator.scenario(faults=[{"op": op, "kind": "reset"}])
    with pytest.raises(DROPPED):
        if op == "download":
            httpx.get(video_url)
        elif op == "upload":
            httpx.post(emulator.base_url + "/_oss", files={"file": ("a.png", b"x")})
        else:
            _request(api, op, task_id)
    deadline = time.monotonic() + 2  # the server logs the request once it sees the hang-up
    while not (logged := [r for r in emulator.stats()["requests"] if r["fault"] == "reset"]):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert logged[0]["status"] is None


def test_slow_delays_then_answers_normally(api, emulator, task_id):
    emulator.scenario(faults=[{"op": "poll", "kind": "slow", "delay": 0.4}])
    started = time.monotonic()
    response = _request(api, "poll", task_id)
    assert time.monotonic() - started >= 0.4
    assert response.json()["output"]["task_status"] == "SUCCEEDED"


def test_ambiguous_creates_the_task_but_the_client_never_hears(api, emulator):
    emulator.scenario(faults=[{"op": "submit", "kind": "ambiguous"}])
    with pytest.raises(DROPPED):
        api.submit(T2V)
    stats = emulator.stats()
    assert stats["created_tasks"] == 1
    assert api.http.get("/tasks", headers=HEADERS).json()["total"] == 1


@pytest.mark.parametrize("status", [502, 200])
def test_html_is_a_gateway_error_page(api, emulator, task_id, status):
    emulator.scenario(faults=[{"op": "poll", "kind": "html", "status": status}])
    response = _request(api, "poll", task_id)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<html>")


@pytest.mark.parametrize("op", JSON_OPS)
def test_malformed_is_invalid_json_with_200(api, emulator, task_id, op):
    emulator.scenario(faults=[{"op": op, "kind": "malformed"}])
    response = _request(api, op, task_id)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.parametrize("op, missing", [
    ("submit", "task_status"), ("poll", "task_status"), ("list", "data"), ("policy", "policy"),
])
def test_missing_fields_leaves_out_what_clients_read(api, emulator, task_id, op, missing):
    emulator.scenario(faults=[{"op": op, "kind": "missing_fields"}])
    response = _request(api, op, task_id)
    assert response.status_code == 200
    text = json.dumps(response.json())
    assert f'"{missing}"' not in text


def test_huge_streams_a_valid_json_body_of_the_asked_size(api, emulator, task_id):
    emulator.scenario(faults=[{"op": "poll", "kind": "huge", "bytes": 3_000_000}])
    response = _request(api, "poll", task_id)
    assert int(response.headers["content-length"]) == len(response.content) == 3_000_000
    assert response.json()["output"]["task_id"] == task_id


def test_unknown_makes_a_live_task_answer_unknown(api, emulator, task_id):
    emulator.scenario(faults=[{"op": "poll", "kind": "unknown"}])
    assert api.get(task_id)["output"] == {"task_id": task_id, "task_status": "UNKNOWN"}
    assert api.get(task_id)["output"]["task_status"] == "SUCCEEDED"


def test_truncate_promises_the_whole_file_and_sends_half(emulator, video_url):
    size = int(httpx.head(video_url).headers["content-length"])
    emulator.scenario(faults=[{"op": "download", "kind": "truncate"}])
    received = 0
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", video_url) as response:
        assert int(response.headers["content-length"]) == size
        for chunk in response.iter_bytes():
            received += len(chunk)
    assert received == size // 2


def test_trickle_limits_the_rate(emulator, video_url):
    emulator.scenario(faults=[{"op": "download", "kind": "trickle", "bytes_per_second": 100_000}])
    started = time.monotonic()
    response = httpx.get(video_url, headers={"Range": "bytes=0-49999"})
    assert len(response.content) == 50_000
    assert time.monotonic() - started >= 0.45


def test_endless_never_ends(emulator, video_url):
    size = int(httpx.head(video_url).headers["content-length"])
    emulator.scenario(faults=[{"op": "download", "kind": "endless"}])
    received = 0
    with httpx.stream("GET", video_url) as response:
        assert "content-length" not in response.headers
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > size + 2_000_000:
                break
    assert received > size + 2_000_000


def test_not_video_is_an_html_page_at_the_video_url(emulator, video_url):
    emulator.scenario(faults=[{"op": "download", "kind": "not_video"}])
    response = httpx.get(video_url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")


def test_expire_refuses_a_fresh_url(emulator, video_url):
    emulator.scenario(faults=[{"op": "download", "kind": "expire"}])
    response = httpx.get(video_url)
    assert response.status_code == 403 and "<Message>Request has expired.</Message>" in response.text
    assert httpx.get(video_url).status_code == 200


def test_counts_fire_that_many_times_or_forever(api, emulator, task_id):
    emulator.scenario(faults=[{"op": "poll", "kind": "status", "count": 2},
                              {"op": "list", "kind": "status", "count": -1}])
    assert [_request(api, "poll", task_id).status_code for _ in range(3)] == [500, 500, 200]
    assert {_request(api, "list", None).status_code for _ in range(3)} == {500}
    stats = emulator.stats()
    assert stats["faults_fired"] == {"poll:status": 2, "list:status": 3}
    assert [(f["op"], f["count"]) for f in stats["faults_pending"]] == [("list", -1)]


def test_faults_fire_before_authentication(api, emulator):
    emulator.scenario(faults=[{"op": "submit", "kind": "status", "status": 502}])
    assert api.http.post(T2V_PATH, json=T2V).status_code == 502


@pytest.mark.parametrize("rule, problem", [
    ({"op": "poll", "kind": "ambiguous"}, "fault kind 'ambiguous' applies to submit, not 'poll'"),
    ({"op": "fetch", "kind": "reset"}, "fault op must be one of"),
    ({"op": "poll", "kind": "explode"}, "fault kind must be one of"),
    ({"op": "poll", "kind": "reset", "count": 0}, "fault count must be a positive integer or -1"),
    ({"op": "poll", "kind": "reset", "colour": "red"}, "unknown fault field(s) ['colour']"),
])
def test_bad_rules_are_refused_whole(emulator, rule, problem):
    response = httpx.post(emulator.base_url + "/_emulator/scenario", json={"faults": [rule]})
    assert response.status_code == 400 and problem in response.json()["message"]
    with pytest.raises(ValueError, match="faults"):
        emulator.scenario(faults=[rule])
