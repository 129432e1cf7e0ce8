#!/usr/bin/env python3
"""Generate video with Alibaba Cloud Model Studio Wan models; prints one JSON object.

Usage: python scripts/generate_video.py --request '{"prompt": "..."}'   (see SKILL.md)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wan_video.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
