"""Small helpers for the emulator tests: images, and a raw-HTTP client of the task protocol."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import httpx
from PIL import Image

KEY = "sk-emulator"
HEADERS = {"Authorization": f"Bearer {KEY}", "X-DashScope-Async": "enable"}
T2V_PATH = "/services/aigc/video-generation/video-synthesis"
KF2V_PATH = "/services/aigc/image2video/video-synthesis"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")


def png_bytes(width: int, height: int, color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def data_url(width: int, height: int, color: tuple[int, int, int] = (200, 80, 40)) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(width, height, color)).decode()


class Api:
    """The DashScope task protocol over plain httpx, as a test sees it."""

    def __init__(self, api_url: str) -> None:
        self.http = httpx.Client(base_url=api_url, timeout=30)

    def close(self) -> None:
        self.http.close()

    def submit(
        self, body: Any, *, path: str = T2V_PATH, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.http.post(path, json=body, headers=HEADERS if headers is None else headers)

    def create(self, body: Any, *, path: str = T2V_PATH, headers: dict[str, str] | None = None) -> str:
        """Submit and return the task id (the submit must succeed)."""
        response = self.submit(body, path=path, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["output"]["task_id"]

    def get(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/tasks/{task_id}", headers=HEADERS)
        assert response.status_code == 200, response.text
        return response.json()

    def wait(self, task_id: str, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = self.get(task_id)
            if body["output"]["task_status"] in TERMINAL or time.monotonic() > deadline:
                return body
            time.sleep(0.05)
