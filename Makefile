# One target per workflow. Everything installs into .venv from pinned versions.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser promtool redis run test lint deploy-check format bench bench-sentiment clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e ".[dev]"
	@# CDNOW for bench/clv.py and its tests: only its data files are read, so none of its deps.
	$(BIN)/pip install --quiet --no-deps lifetimes==0.11.3
	@touch $(STAMP)

install: $(STAMP)  ## create .venv with the pinned dependencies

browser:  ## Debian's Chromium for the browser tests (needs root; they skip without it)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium not installed: browser tests will be skipped"

promtool:  ## Debian's Prometheus for promtool (needs root); `make deploy-check` fails without it in CI
	@command -v promtool >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		prometheus >/dev/null; } || \
		echo "promtool not installed: alert rules will not be checked (CI fails without it)"

redis:  ## Debian's redis-server for the cache tests (needs root; they skip without it locally)
	@command -v redis-server >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		redis-server >/dev/null; } || \
		echo "redis-server not installed: the Redis cache tests will be skipped"

run: install  ## start everything on the embedded defaults: http://127.0.0.1:8000
	$(BIN)/fte up

test: lint deploy-check  ## lint, deployment files, then the whole test suite (it starts its own PostgreSQL)
	$(BIN)/pytest

lint: install  ## ruff and mypy
	$(BIN)/ruff check src tests bench deploy
	$(BIN)/ruff format --check src tests bench deploy
	$(BIN)/mypy

deploy-check: install  ## validate deploy/ offline: Kubernetes schemas, kustomize, compose, alerts
	$(BIN)/python deploy/check.py

format: install
	$(BIN)/ruff check --fix src tests bench deploy

bench: install  ## intake throughput and latency against the bare-asyncpg ceiling
	$(BIN)/python bench/intake.py

bench-sentiment: install  ## sentiment quality and speed on ../shared/data/twitter (or FILE=...)
	$(BIN)/python bench/sentiment.py $(FILE) --repeats 3

clean:  ## remove the virtualenv (keeps .fte, your local data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
