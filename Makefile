# multilevel: two commands do everything on a fresh machine:
#   make run    harvest every configured Eurostat dataset into the local DuckDB warehouse
#               (offline? `make run STANDIN=1` harvests from the local API stand-in instead)
#   make test   the whole test suite (starts its own servers: API stand-in, S3-API, PostgreSQL)

PYTHON_BIN ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
MULTILEVEL := $(VENV)/bin/multilevel
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

$(STAMP): pyproject.toml
	test -x $(PYTHON) || $(PYTHON_BIN) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

.PHONY: install
install: $(STAMP) ## create .venv and install the package with every extra

.PHONY: run
run: $(STAMP) ## harvest every configured dataset (STANDIN=1: from the local API stand-in, no internet)
	$(MULTILEVEL) harvest $(if $(STANDIN),--standin) $(DATASETS)

.PHONY: demo
demo: $(STAMP) ## offline end to end: stand-in harvest, synthetic ESS load, regional-context report
	$(MULTILEVEL) harvest --standin
	$(MULTILEVEL) ess load data/ess9_synthetic.dta
	$(MULTILEVEL) report --out .multilevel/report

.PHONY: test
test: $(STAMP) ## run the whole test suite
	$(PYTHON) -m pytest $(PYTEST_ARGS)

.PHONY: lint
lint: $(STAMP) ## ruff on the code
	$(VENV)/bin/ruff check src tests workflows data bench

.PHONY: bench
# each bench's output goes through `tee`: pipefail, so a failing bench fails `make bench` instead of hiding behind tee
bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -c
bench: $(STAMP) ## issue 10's table (bench/results/latest.{json,md}, README Performance), then the detailed benches
	$(PYTHON) bench/bench.py $(BENCH_ARGS)
	mkdir -p bench-results
	$(PYTHON) bench/parse_bench.py | tee bench-results/parse.txt
	$(PYTHON) bench/load_bench.py | tee bench-results/load.txt
	$(PYTHON) bench/harvest_bench.py | tee bench-results/harvest.txt
	$(PYTHON) bench/catalogue_bench.py --datasets 300 | tee bench-results/catalogue.txt
	$(PYTHON) bench/context_bench.py | tee bench-results/context.txt

.PHONY: reference
reference: $(STAMP) ## rebuild data/reference/*.csv (NUTS codes, changes, ESS crosswalk, JRC pieces) from the vendored sources
	$(PYTHON) data/build_jrc_reference.py
	$(PYTHON) data/build_nuts_reference.py

.PHONY: synthetic-ess
synthetic-ess: $(STAMP) ## rebuild the synthetic Stata files data/ess9_synthetic.dta and data/ess11_synthetic.dta
	$(PYTHON) data/make_synthetic_ess.py
	$(PYTHON) data/make_synthetic_ess.py --round 11

.PHONY: clean
clean: ## remove the local warehouse and stage (.multilevel/)
	rm -rf .multilevel

.PHONY: help
help:
	@grep -hE '^[a-zA-Z_/.-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

-include mk/*.mk
