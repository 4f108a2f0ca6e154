# One command each on a fresh machine: every target sets up what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
SPAMASSASSIN := /usr/bin/spamassassin
POSTGRES_INITDB := /usr/lib/postgresql/*/bin/initdb

.PHONY: demo test test-long lint workflows typecheck pytest bench test-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian's chromium (the browser tests) and postgresql (the store tests start a throwaway server
# of their own from its binaries; any version) and spamassassin (scores a sent issue, local rules
# only), each only where missing, with one apt-get update.
test-packages:
	@missing="$$(test -x $(CHROMIUM) || echo chromium) $$(ls $(POSTGRES_INITDB) >/dev/null 2>&1 || echo postgresql) $$(test -x $(SPAMASSASSIN) || echo spamassassin) $$(command -v java >/dev/null || echo default-jre-headless)"; \
	missing="$$(echo $$missing)"; \
	test -z "$$missing" || { \
	  echo "Installing Debian's $$missing for the tests..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }

# One world: `send` and `serve` (which answers the emails' unsubscribe and preferences links)
# read the same people. A project with no list yet gets a copy of the example list as its
# subscribers.csv; an existing subscribers.csv is never touched, and the demo sends to the
# example list only.
demo: $(STAMP)
	@test -e subscribers.csv || { cp subscribers.example.csv subscribers.csv && \
	  echo "Copied subscribers.example.csv to subscribers.csv (the list serve reads)."; }
	$(BIN)/innovate-news build
	$(BIN)/innovate-news preview latest
	$(BIN)/innovate-news send latest --subscribers subscribers.example.csv --provider outbox --yes

test: $(STAMP) test-packages lint workflows typecheck pytest

# The CI workflows in .github/workflows/; actionlint comes with the dev dependencies, as a wheel.
workflows: $(STAMP)
	$(BIN)/actionlint

lint: $(STAMP)
	$(BIN)/ruff check innovate_news tests bench
	$(BIN)/ruff format --check innovate_news tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) test-packages
	$(BIN)/pytest -m "not long"

# The long profiles: property tests with many more (random) examples, and the slow cases.
test-long: $(STAMP) test-packages
	HYPOTHESIS_PROFILE=long $(BIN)/pytest

BENCH_VENV := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed
HUGO := /usr/bin/hugo

$(BENCH_STAMP): pyproject.toml bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e . -r bench/requirements.txt
	touch $(BENCH_STAMP)

# The package is installed editable; byte-compile it as pip does an installed one, so the
# timed runs do not compile its modules from source each time (PYTHONDONTWRITEBYTECODE).
# Hugo, a peer of the build benchmark, comes from Debian, never as a dependency of the package;
# so does the PostgreSQL server the store benchmark starts.
bench: $(BENCH_STAMP)
	@missing="$$(test -x $(HUGO) || echo hugo) $$(ls $(POSTGRES_INITDB) >/dev/null 2>&1 || echo postgresql)"; \
	missing="$$(echo $$missing)"; \
	test -z "$$missing" || { \
	  echo "Installing Debian's $$missing for the benchmarks..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }
	$(BENCH_VENV)/bin/python -m compileall -q innovate_news
	$(BENCH_VENV)/bin/python bench/run.py

# Only what can be made again: .innovate-news keeps the ledger, suppressions, sign-ups and
# secret (durable: see `innovate-news state backup`) and manifests/ (lets a build remove old pages).
clean:
	rm -rf $(VENV) $(BENCH_VENV) site preview outbox .innovate-news/cache
