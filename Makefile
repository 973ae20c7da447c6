# Every target creates or reuses .venv by itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
ARGS ?=

.PHONY: venv demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	@# PyICU (pulled in by followthemoney) compiles against Debian's libicu-dev.
	@if ! dpkg -s libicu-dev >/dev/null 2>&1 && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libicu-dev pkg-config; fi
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/accord demo $(ARGS)

test: venv
	$(BIN)/pytest -n 2 -m "not slow" $(PYTEST_ARGS)

test-fast: venv
	ACCORD_TEST_BACKENDS=sqlite $(BIN)/pytest -n 2 -m "not slow and not e2e" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: venv
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
