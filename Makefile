# Two commands for a fresh clone (nothing installed but Python 3.11+):
#   make demo   the whole chain of subcommands into runs/demo/
#   make test   ruff, mypy and the pytest suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= runs/demo

.PHONY: install demo test test-slow lint typecheck bench clean

# Re-install only when the project's dependency files or its C sources change (setup.py
# compiles sinecli/models/*/_*.c into the source tree).
$(STAMP): pyproject.toml constraints.txt setup.py $(wildcard sinecli/models/*.h sinecli/models/*/_*.c)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,onnx]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	@mkdir -p $(DEMO)
	$(BIN)/sinecli generate -o $(DEMO)/train.npz --seed 1
	$(BIN)/sinecli generate -o $(DEMO)/test.npz --seed 2
	$(BIN)/sinecli train $(DEMO)/train.npz -o $(DEMO)/model.pt
	$(BIN)/sinecli evaluate $(DEMO)/model.pt $(DEMO)/test.npz -o $(DEMO)/metrics.json
	$(BIN)/sinecli predict $(DEMO)/model.pt $(DEMO)/test.npz -o $(DEMO)/predictions.csv
	$(BIN)/sinecli plot waves $(DEMO)/train.npz -o $(DEMO)/waves.png --dpi 80
	$(BIN)/sinecli train $(DEMO)/train.npz -o $(DEMO)/gru.pt --model gru
	$(BIN)/sinecli plot loss $(DEMO)/gru.pt -o $(DEMO)/loss.png --dpi 80
	$(BIN)/sinecli plot confusion $(DEMO)/model.pt $(DEMO)/test.npz -o $(DEMO)/confusion.png --dpi 80
	$(BIN)/sinecli plot calibration $(DEMO)/model.pt $(DEMO)/test.npz -o $(DEMO)/calibration.png --dpi 80
	@echo "demo results in $(DEMO)/: train.npz and test.npz (training and held-out data),"
	@echo "  model.pt (checkpoint of the default model), gru.pt (a recurrent one, for its loss"
	@echo "  curve), metrics.json, predictions.csv, and the figures waves.png,"
	@echo "  loss.png, confusion.png, calibration.png (as in docs/)"

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy sinecli tests benchmarks
	$(BIN)/pytest

# The cases marked slow (the fuzzers of tests/reliability/test_fuzz.py and a long training
# run), which `make test` and CI skip: a few minutes on 2 cores.
test-slow: install
	$(BIN)/pytest -m slow

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy sinecli tests benchmarks

# One table of ratios measured side by side (benchmarks/run.py), then the GPU table, which
# skips cleanly without CUDA. `make bench BENCH_ARGS=--quick` for a smaller, faster run.
bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/gpu.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache build
	find sinecli -name "*.so" -delete
