# The two commands of the README: `make demo` and `make test`. Each installs what it needs on
# a fresh Debian machine (a virtual environment, Debian's chromium and chromium-headless-shell
# for Playwright) and can be run again at no cost.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
DEMO_OUT ?= demo-output

.PHONY: deps venv chromium postgres pywb oracles axe test demo serve bench lint clean

deps: venv chromium

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { $(APT) update -qq && $(APT) install -y -qq python3-venv python3-dev; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

chromium:
	@{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromium-headless-shell ]; } || [ -n "$$VETTING_CHROMIUM" ] || \
		{ $(APT) update -qq && $(APT) install -y -qq chromium chromium-headless-shell; }

# The tests start a private PostgreSQL server of their own (Unix socket only).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(APT) update -qq && $(APT) install -y -qq postgresql; }

# pywb (the replay check of evidence packages) in a venv of its own: it pins old redis and
# brings brotlipy, which would shadow the brotli module Scrapy decodes with.
PYWB_VENV := .venv-pywb
pywb: $(PYWB_VENV)/.installed

$(PYWB_VENV)/.installed:
	$(PYTHON) -m venv $(PYWB_VENV)
	$(PYWB_VENV)/bin/pip install -q 'pywb>=2.10,<2.11'
	touch $@

# Test oracles: OCR (tesseract-ocr) reads every hiring-staff picture, poppler-utils (pdftotext,
# pdfimages) reads every hiring-staff PDF; a masked term found by either fails the tests.
oracles:
	@{ command -v tesseract && command -v pdftotext && command -v pdfimages; } >/dev/null 2>&1 || { $(APT) update -qq && $(APT) install -y -qq tesseract-ocr tesseract-ocr-eng poppler-utils; }

# axe-core (from npm) checks every web page for accessibility in Chromium
# (tests/test_web_accessibility.py); kept out of the repository, in .npm-tools.
AXE := .npm-tools/node_modules/axe-core/axe.min.js
axe: $(AXE)

$(AXE):
	@command -v npm >/dev/null 2>&1 || { $(APT) update -qq && $(APT) install -y -qq npm; }
	npm install --no-save --no-audit --no-fund --prefix .npm-tools axe-core@4.10.3

test: deps postgres pywb oracles axe
	$(BIN)/pytest -q

demo: deps
	$(BIN)/vet demo --out $(DEMO_OUT)

# The web application on 127.0.0.1:8000 over the demo workspace (made by `make demo` if it is
# not there yet); log in with an account of demo-output/accounts.txt.
serve: deps
	@[ -f $(DEMO_OUT)/workspace/vetting.db ] || $(BIN)/vet demo --out $(DEMO_OUT)
	@echo "log in with the accounts of $(DEMO_OUT)/accounts.txt (a TOTP code: $(BIN)/python -c \"import pyotp; print(pyotp.TOTP('SECRET').now())\")"
	$(BIN)/vet --workspace $(DEMO_OUT)/workspace web --host 127.0.0.1 --port 8000

bench: deps postgres
	$(BIN)/python bench/run.py

lint: venv
	$(BIN)/ruff check vetting spiders audit tests

clean:
	rm -rf $(VENV) $(PYWB_VENV) .npm-tools $(DEMO_OUT) vetting-workspace .pytest_cache
