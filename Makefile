# Two commands do all the set-up on a fresh machine:
#   make run    # installs into .venv, then runs Dynosaur on examples/ with the embedded model
#   make test   # installs into .venv, then runs the whole test suite (fast + real-model tests)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= runs/dynosaur-examples

.PHONY: install run test test-fast test-slow bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# the viewer's browser tests drive Debian's chromium (never a downloaded browser); CI runs this as root
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned to the local CPU wheel, so no other package pulls a CUDA build
	$(BIN)/python -m pip install -q "torch==2.13.0" -e ".[all,ray,dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/instructkit dynosaur examples/ --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest tests -q --timeout 900

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest tests -q -m slow --timeout 900

clean:
	rm -rf $(VENV) runs .pytest_cache
