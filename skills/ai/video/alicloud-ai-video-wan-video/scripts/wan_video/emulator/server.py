"""EmulatorServer: the emulator on a real loopback port, served by uvicorn in a thread."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from ..catalog import Catalog, load_catalog
from .app import API_ROOT, create_app
from .handlers import Service
from .media import MediaStore
from .oss import Signer
from .planner import Planner
from .render import VideoCache
from .settings import KEYS_ENV, EmulatorSettings
from .state import Engine

START_TIMEOUT = 10.0


class EmulatorServer:
    """A DashScope look-alike on http://host:port; use as a context manager.

    `port=0` picks a free port; read it back from `base_url` / `api_url` (the value for
    DASHSCOPE_BASE_URL / DASHSCOPE_HTTP_BASE_URL). API keys: `sk-emulator`, the settings'
    `keys`, and the comma-separated WAN_VIDEO_EMULATOR_KEYS.
    """

    def __init__(
        self,
        port: int = 0,
        settings: EmulatorSettings | None = None,
        *,
        host: str = "127.0.0.1",
        catalog: Catalog | None = None,
    ) -> None:
        settings = settings or EmulatorSettings()
        env_keys = os.environ.get(KEYS_ENV, "")
        if env_keys.strip():
            settings = settings.merged({"keys": [*settings.keys, *env_keys.split(",")]})
        self.host = host
        self._port = port
        self._data_dir = Path(tempfile.mkdtemp(prefix="wan-video-emulator-"))
        for sub in ("uploads", "inputs", "videos", "spool"):
            (self._data_dir / sub).mkdir()
        catalog = catalog or load_catalog()
        engine = Engine(catalog, settings)
        self.service = Service(
            catalog=catalog,
            engine=engine,
            planner=Planner(catalog, MediaStore(self._data_dir / "inputs", engine.upload)),
            videos=VideoCache(self._data_dir / "videos"),
            signer=Signer(secrets.token_bytes(20)),
            data_dir=self._data_dir,
            connections=self._connections,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> EmulatorServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        sock.listen(128)  # connections queue from now on, before uvicorn accepts them
        self._socket = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.service),
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"wan-video-emulator:{self._port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start on {self.base_url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving, then remove uploads and rendered videos."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        shutil.rmtree(self._data_dir, ignore_errors=True)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _connections(self) -> list[Any]:
        server = self._server
        return list(server.server_state.connections) if server else []

    # ------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def api_url(self) -> str:
        return self.base_url + API_ROOT

    def region_api_url(self, region: str) -> str:
        """The api root for a region other than cn-beijing."""
        return f"{self.base_url}/regions/{region}{API_ROOT}"

    # ------------------------------------------------------------ control (as the endpoints)

    def scenario(self, **overrides: Any) -> dict[str, Any]:
        """Merge settings, like POST /_emulator/scenario; returns the settings in force."""
        return self.service.engine.apply(overrides).to_dict()

    def reset(self) -> dict[str, Any]:
        """Like POST /_emulator/reset."""
        return self.service.engine.reset().to_dict()

    def stats(self) -> dict[str, Any]:
        """Like GET /_emulator/stats."""
        return self.service.engine.stats(renders=self.service.videos.renders)
