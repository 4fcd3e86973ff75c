# One command to run, one to test; both create the virtual environment when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test demo validate calibrate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The main job. Until the web app lands this is a `planner predict` demo: DeepSeek R1 671B
# Q4_K_M on a Mac Studio M3 Ultra 512 GB, then the same model on 8x H100.
run: $(STAMP)
	$(BIN)/python -m planner predict --hardware apple-m3-ultra-80c --memory-gb 512 --model deepseek-r1 \
		--quant q4_k_m --engine llama.cpp --prompt 512 --gen 128 || test $$? -eq 3
	$(BIN)/python -m planner predict --hardware nvidia-h100-sxm --devices 8 --model deepseek-r1 \
		--quant fp8 --engine vllm --prompt 512 --gen 128 || test $$? -eq 3

test: $(STAMP)
	$(BIN)/python -m pytest

validate: $(STAMP)
	$(BIN)/python -m planner validate --loo

calibrate: $(STAMP)
	$(BIN)/python -m planner calibrate

clean:
	rm -rf $(VENV) .pytest_cache
