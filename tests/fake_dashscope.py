"""An independent fake of the documented DashScope task protocol, for cross-checking the client.

Written from the public docs' verbatim bodies alone, with the standard library, and sharing no
code with the emulator: if the emulator and the client ever share a misunderstanding of the
protocol, the tests against this fake disagree with the tests against the emulator.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Verbatim shapes from the docs (request ids and task ids replaced per call).
SUBMIT_OK = '{"output":{"task_status":"PENDING","task_id":"%s"},"request_id":"%s"}'
RUNNING = ('{"request_id":"%s","output":{"task_id":"%s","task_status":"RUNNING",'
           '"submit_time":"2025-09-29 14:18:52.331","scheduled_time":"2025-09-29 14:18:59.290"}}')
SUCCEEDED = ('{"request_id":"%s","output":{"task_id":"%s","task_status":"SUCCEEDED",'
             '"submit_time":"2025-09-29 14:18:52.331","scheduled_time":"2025-09-29 14:18:59.290",'
             '"end_time":"2025-09-29 14:23:39.407","orig_prompt":"%s","video_url":"%s"},'
             '"usage":{"duration":5,"size":"832*480","input_video_duration":0,"output_video_duration":5,'
             '"video_count":1,"SR":480}}')
FAILED = ('{"request_id":"%s","output":{"task_id":"%s","task_status":"FAILED",'
          '"code":"InvalidParameter","message":"The size is not match xxxxxx"}}')
UNKNOWN = '{"request_id":"%s","output":{"task_id":"%s","task_status":"UNKNOWN"}}'
INVALID_KEY = '{"code":"InvalidApiKey","message":"Invalid API-key provided.","request_id":"%s"}'
SYNC_DENIED = ('{"code":"AccessDenied","message":"current user api does not support synchronous calls.",'
               '"request_id":"%s"}')


class FakeDashScope:
    """RUNNING until `run_seconds` after submit (and at least one RUNNING answer), then SUCCEEDED
    (or FAILED for prompts containing 'fail')."""

    def __init__(self, video: bytes, key: str = "sk-fake", run_seconds: float = 1.0) -> None:
        self.video = video
        self.key = key
        self.run_seconds = run_seconds
        self.tasks: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str, dict[str, Any] | None]] = []
        self.uploads: dict[str, bytes] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: str | bytes, ctype: str = "application/json") -> None:
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {fake.key}":
                    self._send(401, INVALID_KEY % uuid.uuid4())
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802
                fake.log.append(("GET", self.path, None))
                if self.path.startswith("/video/"):
                    self._send(200, fake.video, "video/mp4")
                    return
                if not self._authorized():
                    return
                if self.path.startswith("/api/v1/uploads"):
                    policy = base64.b64encode(b'{"conditions":[]}').decode()
                    body = {"data": {"policy": policy, "signature": "sig", "upload_dir": "dashscope-instant/fake",
                                     "upload_host": f"http://127.0.0.1:{fake.port}/oss",
                                     "expire_in_seconds": 300, "max_file_size_mb": 100,
                                     "capacity_limit_mb": 999999999, "oss_access_key_id": "ak",
                                     "x_oss_object_acl": "private", "x_oss_forbid_overwrite": "true"},
                            "request_id": str(uuid.uuid4())}
                    self._send(200, json.dumps(body))
                    return
                m = re.fullmatch(r"/api/v1/tasks/([^/?]+)", self.path)
                if m:
                    self._send(200, fake._query(m.group(1)))
                    return
                if self.path.startswith("/api/v1/tasks"):
                    data = [{"task_id": t, "status": "RUNNING", "model_name": v["model"],
                             "gmt_create": v["created_ms"]} for t, v in fake.tasks.items()]
                    self._send(200, json.dumps({"total": len(data), "data": data, "total_page": 1, "page_no": 1,
                                                "page_size": 100, "request_id": str(uuid.uuid4())}))
                    return
                self._send(404, '{"code":"NotFound","message":"Not Found"}')

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path == "/oss":
                    fake.uploads[self.path] = raw
                    fake.log.append(("POST", self.path, None))
                    self._send(200, b"", "text/plain")
                    return
                body = json.loads(raw or b"{}")
                fake.log.append(("POST", self.path, {"body": body, "headers": dict(self.headers)}))
                if not self._authorized():
                    return
                if self.headers.get("X-DashScope-Async") != "enable":
                    self._send(403, SYNC_DENIED % uuid.uuid4())
                    return
                if self.path in ("/api/v1/services/aigc/video-generation/video-synthesis",
                                 "/api/v1/services/aigc/image2video/video-synthesis"):
                    import time

                    task_id = str(uuid.uuid4())
                    with fake._lock:
                        fake.tasks[task_id] = {"polls": 0, "model": body.get("model"),
                                               "prompt": body["input"].get("prompt", ""),
                                               "created_ms": int(time.time() * 1000)}
                    self._send(200, SUBMIT_OK % (task_id, uuid.uuid4()))
                    return
                self._send(404, '{"code":"NotFound","message":"Not Found"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.api_url = f"http://127.0.0.1:{self.port}/api/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _query(self, task_id: str) -> str:
        with self._lock:
            task = self.tasks.get(task_id)
            if task is None:
                return UNKNOWN % (uuid.uuid4(), task_id)
            task["polls"] += 1
            polls = task["polls"]
        import time

        if polls <= 1 or time.time() * 1000 - task["created_ms"] < self.run_seconds * 1000:
            return RUNNING % (uuid.uuid4(), task_id)
        if "fail" in task["prompt"]:
            return FAILED % (uuid.uuid4(), task_id)
        url = f"http://127.0.0.1:{self.port}/video/{task_id}.mp4?Expires=4102444800&OSSAccessKeyId=ak&Signature=s3cr3t"
        return SUCCEEDED % (uuid.uuid4(), task_id, task["prompt"], url)

    def submits(self) -> list[dict[str, Any]]:
        return [entry[2] for entry in self.log if entry[0] == "POST" and entry[2] is not None]

    def __enter__(self) -> FakeDashScope:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
