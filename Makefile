# emberxr — two commands on a fresh machine: `make demo` and `make test`.
# Both bootstrap .venv when it is missing or stale (pyproject.toml changed), then run their job.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.emberxr-installed
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
SIM_VENV := .venv-sim
SIM_PINS := pyretechnics==2026.8.10

export OMP_NUM_THREADS ?= 2
# torch's OpenMP threads spin while they wait; when another process shares the 2 cores, two
# spinning threads each slowed a 2-thread training step ~8x (U-Net-S at 64², batch 8: 1.0 s vs
# 0.16 s per step with PASSIVE, one other training process running). PASSIVE sleeps instead.
export OMP_WAIT_POLICY ?= PASSIVE
export WANDB_MODE ?= offline
export MPLBACKEND ?= Agg

.PHONY: venv demo test test-all lint format sim-venv bench bench-smoke results install-check docs-figures clean help pretrain

help:
	@echo "make demo      set up .venv, then run the main job on the built-in sim-wide-small dataset"
	@echo "make test      set up .venv, then run the test suite (trains tiny models for real)"
	@echo "make test-all  the suite including tests marked slow"
	@echo "make lint      ruff"
	@echo "make sim-venv  build the simulator environment (.venv-sim, pyretechnics $(SIM_PINS))"
	@echo "make bench     run every benchmarks/bench_*.py (full size) and rewrite docs/benchmarks.md"
	@echo "make bench-smoke  run every benchmark script at tiny sizes into a temporary copy of the doc"
	@echo "make results   regenerate docs/results.md and the README results table from docs/results/"
	@echo "make pretrain  pretrain the segformer (mit_b0) encoder on simulated fires: the file pretrained: true loads"
	@echo "make install-check  build the wheel, install it non-editable in a throwaway venv, use it outside the checkout"

# The stamp holds a hash of pyproject.toml: a clone (fresh mtimes) with an unchanged
# pyproject.toml does not reinstall; an edited one does.
venv:
	@want=$$(sha256sum pyproject.toml | cut -c1-64); \
	have=$$(cat $(STAMP) 2>/dev/null); \
	if [ -x "$(PY)" ] && [ "$$want" = "$$have" ]; then exit 0; fi; \
	echo "[emberxr] bootstrapping $(VENV) (torch first, then the project)"; \
	[ -x "$(PY)" ] || $(PYTHON) -m venv $(VENV) || exit 1; \
	$(PY) -m pip install -q --upgrade pip || exit 1; \
	$(PY) -m pip install -q $(TORCH_PINS) || exit 1; \
	$(PY) -m pip install -q -e ".[dev,sweep,export]" || exit 1; \
	echo "$$want" > $(STAMP)

sim-venv:
	@if [ -x "$(SIM_VENV)/bin/python" ] && $(SIM_VENV)/bin/python -c "import pyretechnics" 2>/dev/null; then exit 0; fi; \
	echo "[emberxr] building $(SIM_VENV) with $(SIM_PINS) (compiles with Cython, ~2 min)"; \
	$(PYTHON) -m venv $(SIM_VENV) && $(SIM_VENV)/bin/python -m pip install -q --upgrade pip && \
	$(SIM_VENV)/bin/python -m pip install -q "$(SIM_PINS)"

demo: venv
	$(PY) -m emberxr demo

test: venv
	$(PY) -m pytest -q

test-all: venv
	$(PY) -m pytest -q -m "slow or not slow"

lint: venv
	$(PY) -m ruff check emberxr tests benchmarks plugins docs/scripts
	$(PY) -m ruff format --check emberxr tests benchmarks plugins docs/scripts

format: venv
	$(PY) -m ruff format emberxr tests benchmarks plugins docs/scripts
	$(PY) -m ruff check --fix emberxr tests benchmarks plugins docs/scripts

install-check: venv
	bash .ci/install-check

bench: venv
	$(PY) benchmarks/run_all.py

bench-smoke: venv
	$(PY) benchmarks/run_all.py --smoke

results: venv
	$(PY) docs/scripts/results.py --write

# The weight file `model.pretrained: true` loads for the segformer decoder (the notes preset),
# made reproducibly (seed 0) on the built-in catalog's train/val splits and written to
# $$EMBERXR_WEIGHTS_DIR or ~/.cache/emberxr/weights/segformer-mit_b0.pt (docs/models.md). Runs that
# compare a pretrained decoder with a random one call this target first. PRETRAIN_DATA defaults to
# sim-wide-small when installed, else sim-small; PRETRAIN_ARGS adds e.g. --decoder unet or --device cuda.
PRETRAIN_STEPS ?= 1000
PRETRAIN_DATA  ?=
PRETRAIN_ARGS  ?=
pretrain: venv
	$(PY) -m emberxr pretrain $(if $(PRETRAIN_DATA),--data $(PRETRAIN_DATA)) --decoder segformer \
		--steps $(PRETRAIN_STEPS) --seed 0 --threads $(OMP_NUM_THREADS) $(PRETRAIN_ARGS)

clean:
	rm -rf outputs .pytest_cache
