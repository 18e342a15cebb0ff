# fedicoop: `make run` serves a development instance, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
INSTANCE ?= var/dev
PORT ?= 8080

.PHONY: run test quick lint install clean-dev browser

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "fedicoop needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

run: $(BIN)/.installed
	@if [ ! -f $(INSTANCE)/fedicoop.toml ]; then \
	  mkdir -p $(dir $(INSTANCE)); \
	  (umask 077; $(BIN)/fedicoop init $(INSTANCE) --domain 127.0.0.1:$(PORT) \
	    --name "Demo Co-op" --handle demo --dev > $(INSTANCE).credentials) || exit 1; \
	fi
	@cat $(INSTANCE).credentials
	exec $(BIN)/fedicoop serve $(INSTANCE) --port $(PORT)

lint: $(BIN)/.installed
	$(BIN)/ruff check fedicoop tests bench
	$(BIN)/ruff format --check fedicoop tests bench
	$(BIN)/mypy

# The browser tests drive Debian's chromium by its path (never a browser download).
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

test: lint browser
	$(BIN)/pytest -ra

quick: $(BIN)/.installed
	$(BIN)/pytest -ra -m "not federation"

clean-dev:
	rm -rf $(INSTANCE) $(INSTANCE).credentials
