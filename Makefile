# The two commands a new user types: `make devnet` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: devnet test lint typecheck bench clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

devnet: $(STAMP)
	$(BIN)/meterchain demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy chain vm consensus

test: lint $(STAMP)
	$(BIN)/python -m pytest -n 2

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
