"""A local DashScope look-alike for Wan video generation: the async-task protocol over real HTTP.

    with EmulatorServer(port=0, settings=EmulatorSettings(run_seconds=0.5)) as srv:
        client = dashscope.Client(api_key="sk-emulator", base_url=srv.api_url)

See README.md in this folder for the routes, settings, faults and every emulator decision.
"""

from .server import EmulatorServer
from .settings import DEFAULT_KEY, EmulatorSettings

__all__ = ["DEFAULT_KEY", "EmulatorServer", "EmulatorSettings"]
