#!/usr/bin/env python3
"""make demo: the emulator on a free port, a text-to-video and an image-to-video run end to end.

Each run goes through skills/.../scripts/generate_video.py exactly as an agent would call it,
with DASHSCOPE_BASE_URL pointing at the emulator. Prints each JSON result and where the video,
contact sheet and evidence are; the emulator is stopped at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKILL = ROOT / "skills/ai/video/alicloud-ai-video-wan-video"
SCRIPT = SKILL / "scripts/generate_video.py"
sys.path.insert(0, str(SKILL / "scripts"))

from wan_video.emulator import EmulatorServer, EmulatorSettings  # noqa: E402
from wan_video.media import make_sample_image  # noqa: E402


def run(env: dict[str, str], request: dict[str, object]) -> dict[str, object]:
    cmd = [sys.executable, str(SCRIPT), "--request", json.dumps(request, ensure_ascii=False), "--timeout", "120"]
    print(f"\n$ python {SCRIPT.relative_to(ROOT)} --request '{json.dumps(request, ensure_ascii=False)}'",
          flush=True)
    proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    result = json.loads(proc.stdout)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if proc.returncode != 0:
        raise SystemExit(f"demo run failed with exit {proc.returncode}")
    return result


def main() -> int:
    out = ROOT / "output" / "alicloud-ai-video-wan-video"
    image = out / "demo" / "first_frame.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    make_sample_image(str(image), 960, 720, "wan-video demo: first frame")
    settings = EmulatorSettings(run_seconds=3.0, pending_seconds=0.5)
    with EmulatorServer(port=0, settings=settings) as emulator:
        print(f"emulator: {emulator.api_url}  (key: sk-emulator)", flush=True)
        env = {**os.environ, "DASHSCOPE_BASE_URL": emulator.api_url, "DASHSCOPE_API_KEY": "sk-emulator"}
        env.pop("DASHSCOPE_HTTP_BASE_URL", None)
        t2v = run(env, {"prompt": "a small cat running under the moon, cinematic", "duration": 5,
                        "size": "832*480", "model": "wan2.5-t2v-preview", "seed": 42})
        i2v = run(env, {"prompt": "the scene comes alive, gentle camera push-in", "duration": 5,
                        "resolution": "480P", "reference_image": str(image),
                        "model": "wan2.2-i2v-flash"})
    print("\nemulator stopped. Files:")
    for name, res in (("text-to-video", t2v), ("image-to-video", i2v)):
        print(f"  {name}: task {res['task_id']}")
        for key in ("local_path", "contact_sheet", "evidence_dir"):
            print(f"    {key}: {res.get(key)}")
        print(f"    measured: {res.get('width')}x{res.get('height')} {res.get('fps')} fps "
              f"{res.get('duration')} s, sha256 {str(res.get('sha256'))[:16]}…")
    return 0


if __name__ == "__main__":
    sys.exit(main())
