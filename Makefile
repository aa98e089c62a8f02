# Each target creates or refreshes .venv and installs tanas into it (editable, with test extras).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test check bench bench-quick setup clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tanas demo

test: $(STAMP)
	$(PY) -m pytest -q

check: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/fisher_speed.py
	$(PY) benchmarks/transfer.py
	$(PY) benchmarks/nas.py

# The --quick form of every benchmark (CI runs it); results go to *-quick.json, which git ignores.
bench-quick: $(STAMP)
	$(PY) benchmarks/fisher_speed.py --quick --quiet --out benchmarks/results/fisher_speed-quick.json
	$(PY) benchmarks/transfer.py --quick --quiet --threads 1 --out benchmarks/results/transfer-quick.json
	$(PY) benchmarks/nas.py --quick --quiet --threads 1 --out benchmarks/results/nas-quick.json
	$(PY) benchmarks/stress.py --quick --out benchmarks/results/stress-quick.json

clean:
	rm -rf $(VENV) build src/*.egg-info

.PHONY: stress
# The zoo's crash-safety stress test: 100 SIGKILLs of `tanas zoo add` (benchmarks/stress.py; --quick: 10).
stress: $(STAMP)
	$(PY) benchmarks/stress.py
