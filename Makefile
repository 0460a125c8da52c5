# Two commands do all the set-up on a fresh machine:
#   make demo   -- virtual environment, install (with the DP extra: the demo runs every method), synthesize a shipped
#                  real dataset with every method
#   make test   -- the same environment (with the Spark and dbt extras; Spark needs Java 17), then the whole test
#                  suite on DuckDB and PostgreSQL, the Spark tests on a local Spark session and the dbt tests
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-slow bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dp,postgres,spark,dbt,test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/synthsql demo

# two worker processes (pytest-xdist), each test module on one of them: the Spark session starts in one worker only
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_fit_memory.py
	$(BIN)/python benchmarks/bench_evaluate.py

clean:
	rm -rf $(VENV) build *.egg-info demo.duckdb
