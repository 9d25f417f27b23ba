# Two commands do all the set-up on a fresh machine:
#   make run    # installs into .venv, then runs examples/recipes/dynosaur-to-messages.yaml: examples/ ->
#               # dynosaur -> dedup -> select qdit -> export, a chat training file in $(OUT)/04-export/train.jsonl
#   make test   # installs into .venv, then runs the whole test suite (fast + real-model tests)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= runs/recipe-examples

.PHONY: install run test test-fast test-slow bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned to the local CPU wheel, so no other package pulls a CUDA build
	$(BIN)/python -m pip install -q "torch==2.13.0" -e ".[all,ray,dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/instructkit run examples/recipes/dynosaur-to-messages.yaml --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest tests -q --timeout 900

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest tests -q -m slow --timeout 900

clean:
	rm -rf $(VENV) runs .pytest_cache
