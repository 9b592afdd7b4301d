# Quick start:  `make run` (gateway + embedded broker on 1883)  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= gateway/example.toml
DASHBOARD_PORT ?= 8080

.PHONY: install setup run test lint bench clean

# What running needs: python3-venv and the gateway's own Python dependencies.
install: $(VENV)/.installed-run

$(VENV)/.installed-run: pyproject.toml deploy/dev-deps.sh
	bash deploy/dev-deps.sh run
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

# Development and tests: the above plus the test peers and tools (Debian and PyPI).
setup: $(VENV)/.installed

$(VENV)/.installed: $(VENV)/.installed-run
	bash deploy/dev-deps.sh test
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: install
	$(BIN)/gateway run --config $(CONFIG) --dashboard-port $(DASHBOARD_PORT)

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# The node firmware for the ESP8266 (NodeMCU / D1 mini, 4 MB): out/node-<version>.bin, one
# image flashable at 0x0 (`gateway node flash PORT`, or esptool write_flash 0x0), built with
# Debian's xtensa-lx106 GCC and picolibc against ../shared/thirdparty (firmware/xtensa/build.mk).
.PHONY: firmware
firmware: setup
	$(MAKE) -C firmware -j2 firmware BUILD=$(abspath build/firmware) OUT=$(abspath out) \
		PYTHON=$(abspath $(BIN)/python)

# MQTT.js for the WebSocket tests (tests/security/js); the tests also install it on first use.
.PHONY: security-js
security-js:
	cd tests/security/js && npm ci --no-audit --no-fund

# SD card image for Raspberry Pi 3/4 in out/ and its update bundle (needs root; about 13 min
# the first time on 2 cores, the Debian base alone 8 min; 5 min 9 s measured once
# ~/.cache/sensor-gateway-image holds the cached base, most of it compressing and the
# update bundle). See deploy/image/build.sh. `make image-test`: 20 min with the cached base.
.PHONY: image image-test
image: setup
	PYTHON=$(abspath $(BIN)/python) bash deploy/image/build.sh

# Builds the image and boots it in QEMU through U-Boot (installing QEMU, mtools and
# u-boot-qemu when missing): passes when a real MQTT client gets readings under home/# with
# the credentials first boot generated, the file systems were checked and no unit failed;
# then a good update from the dashboard is booted into and kept, a power cut while a bundle
# is written leaves the old slot booting, a broken update is rolled back by itself, and a
# backup restores onto a second card (README: Testing the image without a Pi).
image-test: setup
	PYTHON=$(abspath $(BIN)/python) bash deploy/image/build.sh --no-compress
	$(BIN)/python -u deploy/image/image_test.py

# Side-by-side benchmark: this broker (uvloop and asyncio), Mosquitto, amqtt; prints the table
# of issue 3 (about 10 minutes; BENCH_QUICK=1 for a rough one-round check). bench/README.md.
# Then the store: QoS 1 with persistence off / full / low-wear, and bytes written per 1000.
bench: setup $(VENV)/.bench-installed
	$(BIN)/python -m bench.run --json out/bench.json
	$(BIN)/python -m bench.persistence --publishers 10 --rounds 3 --json out/bench-persistence.json

$(VENV)/.bench-installed: pyproject.toml
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

# QoS 1 throughput with the store off / full / low-wear and bytes written per 1000 messages
# (README: Broker > Persistence); about 5 minutes.
.PHONY: bench-persistence
bench-persistence: setup
	$(BIN)/python -m bench.persistence --json out/bench-persistence.json

# Where our broker spends its time under load (py-spy), for bench/README.md.
.PHONY: bench-profile
bench-profile: setup $(VENV)/.bench-installed
	$(BIN)/python -m bench.profile

# The README's dashboard screenshot (docs/dashboard.png), taken by the dashboard's browser test.
.PHONY: dashboard-screenshot
dashboard-screenshot: setup
	DASHBOARD_SCREENSHOT=docs/dashboard.png $(BIN)/pytest tests/dashboard/test_dashboard_browser.py

# Power cuts replayed from the recorded writes of a real broker run and a history run, at
# hundreds of cut points each (README: Persistence; about 30 minutes). The test suite runs
# the same test with a reduced count. The recorded runs stay in out/powercut for a post-mortem.
.PHONY: powercut
powercut: setup
	POWERCUT_CUTS=$${POWERCUT_CUTS:-600} POWERCUT_MESSAGES=$${POWERCUT_MESSAGES:-1500} \
	POWERCUT_HISTORY_CUTS=$${POWERCUT_HISTORY_CUTS:-1000} POWERCUT_FLUSHES=$${POWERCUT_FLUSHES:-5000} \
	$(BIN)/pytest -q -s -p no:cacheprovider --timeout 3600 --basetemp=out/powercut \
		tests/store/test_power_cut.py
