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
	@echo "make lint    - ruff check and format check, mypy --strict on the pure kits (mypy.ini)"
	@echo "make check   - migrations, deploy checks and OpenAPI schema validation"
	@echo "make bench     - every benchmark in both profiles, one JSON summary (figures, targets, baselines)"
	@echo "               (PROFILE=embedded|production|both; production uses BENCH_DATABASE_URL, BENCH_BROKER_URL, BENCH_CACHE_URL)"
	@echo "make bench-lac - LAC overhead, ABAC vs cedarpy, simulation speed (JSON)"
	@echo "make bench-pcq - manifest signing, replay by graph size, log appends, proofs at 10^6 leaves (JSON)"
	@echo "make bench-jit - 50 concurrent access requests: time to Slack message and to e-mail accepted (JSON)"
	@echo "make bench-zk  - ZK-TX client and server costs, batches, backends, vs openmined-psi (JSON)"
	@echo "make bench-load - ZK-TX request mix over HTTP, one tenant flooding (JSON + PNG in var/);"
	@echo "                  DURATION=2m RATE=300 ARGS=--chaos; the soak: make bench-load DURATION=45m RATE=550"
	@echo "make sbom provenance verify-supply-chain - SBOMs, signed SLSA provenance, verification (JSON)"
	@echo "make check-ops - SLO rules and alert tests (promtool), dashboards"
	@echo "make cost      - CPU-seconds and price per 1k ZK proofs, batched vs unbatched (JSON)"
	@echo "make dr-drill  - two PostgreSQL clusters, kill the primary, promote, RTO/RPO + integrity (JSON)"
	@echo "make gameday   - flood, jitter, policy drift against a local stack; MTTA, breaches (JSON)"

# Installs from the hash lock (make lock), after checking it still matches requirements*.txt.
$(STAMP): requirements.txt requirements-dev.txt requirements.lock requirements-dev.lock
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PYTHON) ops/supply_chain.py lock --check >/dev/null || { $(PYTHON) ops/supply_chain.py lock --check; exit 1; }
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	touch $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	@echo "Serving on http://$(HOST):$(PORT)/ (demo logins above)"
	$(PY) manage.py runserver $(HOST):$(PORT)

# Two processes by default (pytest-xdist; each worker has its own test database and its own
# Redis cache and broker databases, tests/conftest.py, and the log scan covers every worker).
# PYTEST_ARGS="-n 0" runs serially.
PYTEST_ARGS ?= -n 2
test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

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

# --- Operations: SLO rules, dashboards, supply chain, DR drill, gameday (docs/slo.md,
# docs/supply-chain.md, runbooks/dr.md, runbooks/gameday.md) ---------------------------------
.PHONY: lock sbom provenance verify-supply-chain
# Re-resolve requirements*.txt into requirements*.lock with sha256 hashes (needs PyPI).
lock:
	$(PY) ops/supply_chain.py lock
# dist/: the artifacts and a CycloneDX 1.6 SBOM for each (schema-validated).
sbom: $(STAMP)
	$(PY) ops/supply_chain.py sbom
# dist/*.intoto.json: in-toto v1 + SLSA v1 provenance, DSSE-signed with the release key
# (TF_RELEASE_KEY_FILE; a local key is made on first use, see docs/supply-chain.md).
provenance: $(STAMP)
	$(PY) ops/supply_chain.py provenance
verify-supply-chain: $(STAMP)
	$(PY) ops/supply_chain.py verify

.PHONY: slo-rules dashboards check-ops
# ops/slo.yaml -> ops/prometheus/rules.yml (recording + burn-rate alerts) and rules_test.yml.
slo-rules: $(STAMP)
	$(PY) ops/slo_rules.py
dashboards: $(STAMP)
	$(PY) ops/dashboards.py
# Generated files current, promtool check + unit tests of every alert, dashboards valid.
check-ops: $(STAMP)
	$(PY) ops/slo_rules.py --check
	$(PY) ops/dashboards.py --check
	promtool check rules ops/prometheus/rules.yml
	cd ops/prometheus && promtool test rules rules_test.yml
	$(PY) ops/validate_dashboards.py

.PHONY: cost
# CPU-seconds per 1k ZK proofs, batched vs unbatched; /metrics exports the last run.
cost: $(STAMP)
	@$(PY) manage.py cost_report

.PHONY: dr-drill gameday
# Two PostgreSQL 15 clusters on loopback, write load, kill the primary, promote the replica:
# RTO, RPO and the integrity checks as JSON (runbooks/dr.md). DR_ARGS="--sync --keep" etc.
dr-drill: $(STAMP)
	@$(PY) ops/dr_drill.py $(DR_ARGS)
# Scripted on-call gameday against a local stack (own PostgreSQL, Redis, gunicorn, Prometheus):
# flood, jitter/loss, policy drift; MTTA, SLO breaches, recovery; postmortem in var/gameday/.
gameday: $(STAMP)
	@$(PY) ops/gameday.py $(GAMEDAY_ARGS)

.PHONY: bench-load
# PostgreSQL (BENCH_DATABASE_URL, created and migrated here); gunicorn, a Celery worker and a
# private redis-server are started by the command on loopback ports 18411/18412.
DURATION ?= 2m
RATE ?= 300
bench-load: $(STAMP)
	@$(PY) manage.py bench --profile production --prepare-only
	@DATABASE_URL=$(BENCH_DATABASE_URL) CELERY_BROKER_URL=$(BENCH_BROKER_URL) CACHE_URL=$(BENCH_CACHE_URL) \
		$(PY) manage.py bench_load --duration $(DURATION) --rate $(RATE) $(ARGS) 2>/dev/null
