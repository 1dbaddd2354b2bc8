# otel-kit: `make demo` runs the example service against the local stack; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
COMPAT_VENV := .venv-compat
BIN := $(VENV)/bin
# FastAPI without native telemetry and SQLAlchemy 2.0: the other side of the compatibility matrix.
COMPAT_PINS := "fastapi==0.141.1" "sqlalchemy==2.0.58"

.PHONY: all install servers compat lint test test-unit test-e2e test-compat test-wheel stack-install stack-up stack-down demo bench clean

all: test

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.installed

$(COMPAT_VENV)/bin/.installed: pyproject.toml
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install -q -e ".[dev]" $(COMPAT_PINS)
	touch $@

compat: $(COMPAT_VENV)/bin/.installed

# PostgreSQL and Redis for the integration tests (the test session starts its own on free ports in
# a temporary directory): Debian's packages, installed when root; otherwise say what is missing.
servers:
	@if ! command -v redis-server >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing PostgreSQL and Redis from Debian's packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql redis-server >/dev/null; \
	  else \
	    echo "make: PostgreSQL or Redis is missing: apt-get install postgresql redis-server (their tests fail under CI=true)"; \
	  fi; \
	fi

lint: install
	$(BIN)/ruff check otel_kit tests examples benchmarks
	$(BIN)/mypy otel_kit examples

stack-install: install
	$(BIN)/otel-kit stack install

stack-up: stack-install
	$(BIN)/otel-kit stack up

stack-down:
	-$(BIN)/otel-kit stack down

test-unit: install servers
	$(BIN)/python -m pytest -m "not e2e"

test-e2e: stack-install
	$(BIN)/python -m pytest -m e2e

test-compat: compat
	$(COMPAT_VENV)/bin/python -m pytest -m compat -p no:randomly

# The published path: build the sdist and the wheel (from the sdist), pip install the wheel into a
# fresh virtualenv outside the repository, then `otel-kit stack up`, `doctor` and `stack down` from
# an empty directory, on the binaries already cached in $OTEL_KIT_HOME and under its own stack
# name and ports (about a minute).
WHEEL_TEST := tests/e2e/test_wheel.py

test-wheel: stack-install
	$(BIN)/python -m pytest -m e2e $(WHEEL_TEST)

# The full suite: lint, unit + end-to-end tests (the e2e session starts and stops its own stack
# on its own ports), the wheel/sdist install test, then the compatibility run on FastAPI 0.141 /
# SQLAlchemy 2.0.
test: lint stack-install compat servers
	$(BIN)/python -m pytest --ignore=$(WHEEL_TEST)
	$(BIN)/python -m pytest -m e2e $(WHEEL_TEST)
	$(COMPAT_VENV)/bin/python -m pytest -m compat

demo: stack-up servers
	$(BIN)/python examples/demo.py

bench: install
	$(BIN)/python benchmarks/bench_overhead.py
	$(BIN)/python benchmarks/bench_processors.py
	$(BIN)/python benchmarks/bench_security.py
	$(BIN)/python benchmarks/bench_flask.py

clean:
	rm -rf $(VENV) $(COMPAT_VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
