# Quick start:  `make run` (gateway + embedded broker on 1883)  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= gateway/example.toml

.PHONY: setup run test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml deploy/dev-deps.sh
	bash deploy/dev-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: setup
	$(BIN)/gateway run --config $(CONFIG)

test: setup
	$(BIN)/ruff check broker gateway tests bench
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check broker gateway tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# MQTT.js for the WebSocket tests (tests/security/js); the tests also install it on first use.
.PHONY: security-js
security-js:
	cd tests/security/js && npm ci --no-audit --no-fund
