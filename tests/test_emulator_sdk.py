"""The unmodified dashscope SDK (2.x Client and 1.x VideoSynthesis) runs end to end on the emulator."""

from __future__ import annotations

import av
import dashscope
import httpx
import pytest
from dashscope import VideoSynthesis
from dashscope.v2.errors import AuthenticationError, BadRequestError, DashScopeError
from emulator_support import KEY, png_bytes


@pytest.fixture
def client(emulator):
    emulator.scenario(pending_seconds=0.05, run_seconds=0.2)
    return dashscope.Client(api_key=KEY, base_url=emulator.api_url, max_retries=0)


@pytest.fixture
def legacy(emulator, monkeypatch):
    """1.x reads its endpoint from a module global (DASHSCOPE_HTTP_BASE_URL at import)."""
    emulator.scenario(pending_seconds=0.05, run_seconds=0.2)
    monkeypatch.setattr(dashscope, "base_http_api_url", emulator.api_url)
    return emulator


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "portrait.png"
    path.write_bytes(png_bytes(750, 1000, (30, 120, 200)))
    return path


def _probe(url: str, tmp_path) -> tuple[int, int, int]:
    target = tmp_path / "out.mp4"
    target.write_bytes(httpx.get(url).content)
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        return stream.width, stream.height, stream.frames


# ---------------------------------------------------------------- 2.x Client


def test_v2_text_to_video_create_fetch_wait_list(client, emulator, tmp_path):
    job = client.videos.jobs.create(model="wanx2.1-t2v-turbo", prompt="a red fox", size="832*480")
    assert job.status == "PENDING" and job.task_id
    done = client.videos.jobs.wait(job, poll_interval=0.05)
    assert done.status == "SUCCEEDED" and done.succeeded
    assert done.finished_at and done.scheduled_at and done.submitted_at
    assert done.output["orig_prompt"] == "a red fox"
    assert _probe(done.video_url, tmp_path) == (832, 480, 150)
    fetched = client.videos.jobs.fetch(job.task_id)
    assert fetched.video_url == done.video_url
    page = client.videos.jobs.list()
    # SDK 2.0.2 reads `tasks` but the service answers `data`: total arrives, the items do not.
    assert page.total == 1 and page.tasks == []


def test_v2_image_to_video_uploads_a_local_file(client, emulator, image, tmp_path):
    job = client.videos.jobs.create(
        model="wanx2.1-i2v-turbo", prompt="slow zoom", image_url=str(image), resolution="720P", duration=3
    )
    done = client.videos.jobs.wait(job, poll_interval=0.05)
    assert done.status == "SUCCEEDED"
    summary = emulator.stats()["tasks"][0]["input_summary"]
    assert summary["img_url"].startswith("oss://dashscope-instant/") and summary["img_url"].endswith(
        "/portrait.png"
    )
    assert _probe(done.video_url, tmp_path) == (816, 1104, 90)


def test_v2_wan27_image_to_video_uses_the_media_protocol(client, emulator, image):
    job = client.videos.jobs.create(model="wan2.7-i2v", image_url=str(image), resolution="720P", duration=2)
    done = client.videos.jobs.wait(job, poll_interval=0.05)
    assert done.status == "SUCCEEDED"
    media = emulator.stats()["tasks"][0]["input_summary"]["media"]
    assert [m["type"] for m in media] == ["first_frame"] and media[0]["url"].startswith("oss://")


def test_v2_cancel_a_pending_job(client, emulator):
    emulator.scenario(pending_seconds=5)
    job = client.videos.jobs.create(model="wan2.6-t2v", prompt="x", size="1280*720")
    client.videos.jobs.cancel(job.task_id)
    assert client.videos.jobs.fetch(job.task_id).status == "CANCELED"


def test_v2_errors_map_to_the_sdk_error_classes(client, emulator):
    bad_key = dashscope.Client(api_key="sk-wrong", base_url=emulator.api_url, max_retries=0)
    with pytest.raises(AuthenticationError) as auth:
        bad_key.videos.jobs.create(model="wan2.6-t2v", prompt="x")
    assert auth.value.code == "InvalidApiKey" and auth.value.status_code == 401
    with pytest.raises(BadRequestError) as missing:
        client.videos.jobs.create(model="wanx-i2v-v1", prompt="x")
    assert "Model not exist." in str(missing.value)
    job = client.videos.jobs.create(model="wan2.6-t2v", prompt="x", size="640*480")
    with pytest.raises(DashScopeError) as failed:
        client.videos.jobs.wait(job, poll_interval=0.05)
    assert failed.value.code == "InvalidParameter"
    assert "The size is not match" in str(failed.value)


def test_v2_unknown_task_is_terminal(client):
    job = client.videos.jobs.wait("0385dc79-5ff8-4d82-bcb6-000000000000", poll_interval=0.05, timeout=5)
    assert job.status == "UNKNOWN"


# ---------------------------------------------------------------- 1.x VideoSynthesis


def test_v1_text_to_video_async_call_fetch_wait(legacy, tmp_path):
    submitted = VideoSynthesis.async_call(
        model="wan2.5-t2v-preview", prompt="a cat", size="832*480", api_key=KEY
    )
    assert submitted.status_code == 200 and submitted.output.task_status == "PENDING"
    result = VideoSynthesis.wait(submitted, api_key=KEY)
    assert result.status_code == 200 and result.output.task_status == "SUCCEEDED"
    assert result.usage.video_duration == 5 and result.usage.video_ratio == "832*480"
    fetched = VideoSynthesis.fetch(submitted.output.task_id, api_key=KEY)
    assert fetched.output.video_url == result.output.video_url
    assert _probe(result.output.video_url, tmp_path) == (832, 480, 120)  # 24 fps x 5 s


@pytest.mark.parametrize("as_uri", [True, False])
def test_v1_image_to_video_uploads_file_uri_or_path(legacy, image, as_uri):
    img_url = f"file://{image}" if as_uri else str(image)
    submitted = VideoSynthesis.async_call(
        model="wan2.2-i2v-flash", img_url=img_url, resolution="480P", api_key=KEY
    )
    assert submitted.status_code == 200, submitted
    result = VideoSynthesis.wait(submitted, api_key=KEY)
    assert result.output.task_status == "SUCCEEDED"
    assert legacy.stats()["tasks"][0]["input_summary"]["img_url"].startswith("oss://")


def test_v1_first_and_last_frame_go_to_image2video(legacy, image, tmp_path):
    last = tmp_path / "last.png"
    last.write_bytes(png_bytes(750, 1000, (230, 200, 40)))
    submitted = VideoSynthesis.async_call(
        model="wanx2.1-kf2v-plus",
        prompt="day to night",
        first_frame_url=f"file://{image}",
        last_frame_url=str(last),
        api_key=KEY,
    )
    assert submitted.status_code == 200, submitted
    result = VideoSynthesis.wait(submitted, api_key=KEY)
    assert result.output.task_status == "SUCCEEDED"
    assert result.usage.video_ratio == "standard"
    paths = [r["path"] for r in legacy.stats()["requests"]]
    assert "/api/v1/services/aigc/image2video/video-synthesis" in paths
    assert paths.count("/api/v1/uploads") == 2 and paths.count("/_oss") == 2


def test_v1_cancel_and_list(legacy):
    legacy.scenario(pending_seconds=5)
    submitted = VideoSynthesis.async_call(model="wan2.6-t2v", prompt="x", api_key=KEY)
    canceled = VideoSynthesis.cancel(submitted, api_key=KEY)
    assert canceled.status_code == 200
    again = VideoSynthesis.cancel(submitted, api_key=KEY)
    assert (again.status_code, again.code) == (400, "UnsupportedOperation")
    listed = VideoSynthesis.list(api_key=KEY, status="CANCELED")
    assert listed.status_code == 200
    assert [t["task_id"] for t in listed.output["data"]] == [submitted.output.task_id]


def test_v1_reports_wire_errors(legacy):
    response = VideoSynthesis.async_call(model="wan2.6-t2v", prompt="x", api_key="sk-wrong")
    assert (response.status_code, response.code, response.message) == (
        401, "InvalidApiKey", "Invalid API-key provided.")
    response = VideoSynthesis.async_call(model="wan2.6-i2v", prompt="x", api_key=KEY)
    assert (response.status_code, response.code, response.message) == (
        400, "InvalidParameter", "Field required: input.img_url")


def test_v1_base_address_reaches_a_region(emulator):
    emulator.scenario(pending_seconds=0, run_seconds=0)
    response = VideoSynthesis.async_call(
        model="wan2.1-t2v-turbo", prompt="x", api_key=KEY,
        base_address=emulator.region_api_url("ap-southeast-1"),
    )
    assert response.status_code == 200, response
    assert emulator.stats()["tasks"][0]["region"] == "ap-southeast-1"
