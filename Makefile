# Everything runs from a venv in the repository; each target creates it when missing.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
SKILL := skills/ai/video/alicloud-ai-video-wan-video
STAMP := $(VENV)/.installed

.PHONY: setup demo test validate bench lint emulator clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VPY) scripts/demo.py

test: $(STAMP)
	$(VPY) -m pytest -q -n 2 $(PYTEST_ARGS)

validate: $(STAMP)
	$(VPY) scripts/validate.py $(if $(LIVE),--live,)

bench: $(STAMP)
	$(VPY) scripts/bench.py

.PHONY: reliability
reliability: $(STAMP)
	$(VPY) scripts/reliability_report.py $(if $(LONG),--long,)

lint: $(STAMP)
	$(VPY) -m ruff check .
	$(VPY) -m mypy $(SKILL)/scripts/wan_video

emulator: $(STAMP)
	$(VPY) -m wan_video.emulator --port $(or $(PORT),8089)

clean:
	rm -rf $(VENV) output/alicloud-ai-video-wan-video
