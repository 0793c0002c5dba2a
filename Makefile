# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A local CPU wheel on the project machines; an unpinned torch pulls gigabytes of CUDA packages.
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test lint format clean-venv firmware

# Headless rendering (sim_tasks.render: MUJOCO_GL=egl) needs Mesa's EGL, a system package: installed here when
# missing and apt-get can (as root), otherwise named in one line.
GL_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri

$(VENV)/.installed: setup.cfg pyproject.toml
	@if ! ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1 '; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Mesa's EGL for headless rendering: $(GL_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(GL_PACKAGES) >/dev/null; \
	  else \
	    echo "rendering needs Mesa's EGL ($(GL_PACKAGES)); install them (apt-get install $(GL_PACKAGES)) or rendering tests fail"; \
	  fi; \
	fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/robot-meta demo

# The reference C firmware (firmware_bridge/firmware/rmfw.c), compiled with the system C compiler: the virtual
# robot runs it and the tests drive it. No compiler: one line saying what to install (and its tests fail).
firmware: $(VENV)/.installed
	@$(PY) -m firmware_bridge.cfirmware --build || echo "the C firmware's tests need a C compiler: apt-get install gcc"

# Two workers: most tests are one Python thread, and the suite takes 10.7 min serially on an idle 2-core machine.
# The tests that time a live session (marker `realtime`: watchdogs, conformance) run afterwards, one at a time,
# so that the other worker's load cannot make a robot miss its watchdog.
TEST_WORKERS ?= 2

test: $(VENV)/.installed firmware
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not slow and not realtime"
	$(PY) -m pytest -m "realtime and not slow"

lint: $(VENV)/.installed
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
