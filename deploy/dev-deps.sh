#!/usr/bin/env bash
# Installs the Debian packages a set of make targets needs, only when missing; safe to run again.
#   deploy/dev-deps.sh run    what `make run` needs: a Python venv, nothing else
#   deploy/dev-deps.sh test   that plus the test suite's peers and tools (`make test`, `make setup`)
#   deploy/dev-deps.sh --list run|test   print the package names and exit (README sizes)
set -euo pipefail
run_pkgs=(python3-venv)
# Real peers and tools of the tests: mosquitto and its clients, socat (pseudo-terminals),
# the ESP8266 cross-compiler and its C library (+ the C++ library headers of the same GCC,
# packaged for ARM but generic, for `make firmware`), nodejs (MQTT.js), systemd-analyze and
# passwd (units, first boot), chromium (dashboard browser test), shellcheck, and RAUC with
# squashfs-tools and e2fsprogs (update bundles).
test_pkgs=(mosquitto mosquitto-clients socat gcc g++ make gcc-xtensa-lx106 picolibc-xtensa-lx106-elf
  libstdc++-arm-none-eabi-dev
  openssl nodejs systemd passwd chromium shellcheck rauc squashfs-tools e2fsprogs)

list=0
if [ "${1:-}" = "--list" ]; then list=1; shift; fi
case "${1:-test}" in
  run) pkgs=("${run_pkgs[@]}") ;;
  test) pkgs=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 [--list] run|test" >&2; exit 2 ;;
esac
if [ "$list" -eq 1 ]; then
  echo "${pkgs[*]}"
  exit 0
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
# Debian starts Mosquitto as a service on 1883; the tests start their own peers, and
# the gateway's embedded broker wants that port.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  systemctl disable --now mosquitto >/dev/null 2>&1 || true
  echo "stopped Debian's mosquitto service so the gateway can use port 1883"
fi
