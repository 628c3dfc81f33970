# Trust Fabric. `make run` serves the demo; `make test` runs the whole suite.
# Both build .venv from the pinned requirements on first use (Python 3.11 required).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# Production-profile values used only to run Django's deploy checks.
DEPLOY_ENV := DJANGO_DEBUG=false ALLOWED_HOSTS=trustfabric.example.org \
	SECRET_KEY=check-deploy-$(shell od -An -N32 -tx1 /dev/urandom | tr -d ' \n')

.PHONY: run test lint format check schema migrate seed clean help

help:
	@echo "make run     - install, migrate, load demo data, serve on http://$(HOST):$(PORT)"
	@echo "make test    - install and run the whole test suite"
	@echo "make lint    - ruff check and format check"
	@echo "make check   - migrations, deploy checks and OpenAPI schema validation"
	@echo "make bench     - every benchmark in both profiles, one JSON summary (figures, targets, baselines)"
	@echo "               (PROFILE=embedded|production|both; production uses BENCH_DATABASE_URL, BENCH_BROKER_URL, BENCH_CACHE_URL)"
	@echo "make bench-lac - LAC overhead, ABAC vs cedarpy, simulation speed (JSON)"
	@echo "make bench-pcq - manifest signing, replay by graph size, log appends, proofs at 10^6 leaves (JSON)"
	@echo "make bench-jit - 50 concurrent access requests: time to Slack message and to e-mail accepted (JSON)"
	@echo "make bench-zk  - ZK-TX client and server costs, batches, backends, vs openmined-psi (JSON)"

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	@echo "Serving on http://$(HOST):$(PORT)/ (demo logins above)"
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: $(STAMP)
	$(PY) manage.py spectacular --validate --fail-on-warn --file var/openapi.yaml

check: $(STAMP) schema
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py attest_preflight
	$(DEPLOY_ENV) $(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var/*.sqlite3 staticfiles

.PHONY: bench-lac redteam coverage
bench-lac: $(STAMP)
	@$(PY) manage.py migrate --noinput -v0
	@$(PY) manage.py bench_lac 2>/dev/null

redteam: migrate
	$(PY) manage.py lac_redteam

coverage: migrate
	$(PY) manage.py lac_coverage

.PHONY: attest-update bench-pcq
# After an intended change to the verifier or witness code: new reference measurements.
attest-update: $(STAMP)
	$(PY) manage.py attest_preflight --update

bench-pcq: $(STAMP)
	@$(PY) manage.py bench --profile $(BENCH_PROFILE) --prepare-only
	@$(BENCH_ENV) $(PY) manage.py bench_pcq --profile $(BENCH_PROFILE) $(if $(GRAPH_MEMORY),--graph-memory) 2>/dev/null

.PHONY: bench-jit bench
# Benchmarks: PROFILE=embedded (default for bench-*; a throw-away SQLite file, eager Celery) or
# PROFILE=production (PostgreSQL + Redis below; the benchmark starts gunicorn and Celery workers on
# loopback itself). The production database is created if missing and receives benchmark rows
# (log leaves, temporary tenants): never point it at a live deployment.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/trustfabric_bench
BENCH_BROKER_URL ?= redis://127.0.0.1:6379/14
BENCH_CACHE_URL ?= redis://127.0.0.1:6379/15
BENCH_PROFILE := $(if $(filter production,$(PROFILE)),production,embedded)
BENCH_ENV := $(if $(filter production,$(PROFILE)),DATABASE_URL=$(BENCH_DATABASE_URL) CELERY_BROKER_URL=$(BENCH_BROKER_URL) CACHE_URL=$(BENCH_CACHE_URL),DATABASE_URL=sqlite:///$(CURDIR)/var/bench-embedded.sqlite3 CELERY_BROKER_URL= CACHE_URL=locmemcache://bench)
export BENCH_DATABASE_URL BENCH_BROKER_URL BENCH_CACHE_URL
bench-jit: $(STAMP)
	@$(PY) manage.py bench --profile $(BENCH_PROFILE) --prepare-only
	@$(BENCH_ENV) $(PY) manage.py bench_jit --profile $(BENCH_PROFILE) 2>/dev/null

# Every benchmark, both profiles (PROFILE=embedded or production for one), one JSON summary.
bench: $(STAMP)
	@$(PY) manage.py bench --profile $(or $(PROFILE),both) 2>/dev/null

.PHONY: bench-zk
bench-zk: $(STAMP)
	@$(PY) manage.py bench_zk 2>/dev/null
