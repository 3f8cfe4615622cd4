# The two commands of the README: `make demo` and `make test`. Each installs what it needs on
# a fresh Debian machine (a virtual environment, Debian's chromium for Playwright) and can be
# run again at no cost.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
DEMO_OUT ?= demo-output

.PHONY: deps venv chromium postgres test demo bench lint clean

deps: venv chromium

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { $(APT) update -qq && $(APT) install -y -qq python3-venv python3-dev; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

chromium:
	@[ -x /usr/bin/chromium ] || [ -n "$$VETTING_CHROMIUM" ] || { $(APT) update -qq && $(APT) install -y -qq chromium; }

# The tests start a private PostgreSQL server of their own (Unix socket only).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(APT) update -qq && $(APT) install -y -qq postgresql; }

test: deps postgres
	$(BIN)/pytest -q

demo: deps
	$(BIN)/vet demo --out $(DEMO_OUT)

bench: deps
	$(BIN)/python bench/run.py

lint: venv
	$(BIN)/ruff check vetting spiders audit tests

clean:
	rm -rf $(VENV) $(DEMO_OUT) vetting-workspace .pytest_cache
