# fedicoop: `make run` serves a development instance, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
INSTANCE ?= var/dev
PORT ?= 8080

.PHONY: run test quick lint install clean-dev system-packages

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

# Debian packages the tests drive as they are: chromium (browser tests, by its path, never a
# browser download), nginx and caddy (the hosting templates, in front of real instances).
system-packages:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing="$$missing nginx"; \
	command -v caddy >/dev/null || missing="$$missing caddy"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

test: lint system-packages
	$(BIN)/pytest -ra

quick: $(BIN)/.installed
	$(BIN)/pytest -ra -m "not federation"

clean-dev:
	rm -rf $(INSTANCE) $(INSTANCE).credentials
