# The two commands a new user types: `make devnet` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: devnet demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Four validators and a regulator as separate processes (homes in devnet-data/), with the
# simulated households sending their readings through the API; Ctrl-C stops everything.
devnet: $(STAMP)
	$(BIN)/meterchain devnet up --validators 4 --regulators 1 --home devnet-data

# The one-process demonstration (no network): two months of billing in a few seconds.
demo: $(STAMP)
	$(BIN)/meterchain demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy chain vm consensus node wallet meter_adapters meterchain utility_services contracts/genesis.py

test: lint $(STAMP)
	$(BIN)/python -m pytest -n 2

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
