#!/usr/bin/env bash
# Installs the Debian packages that development and the test suite need, only when missing.
# Used by `make setup`; safe to run again.
set -euo pipefail
pkgs=(python3-venv mosquitto mosquitto-clients socat gcc g++ make gcc-xtensa-lx106 picolibc-xtensa-lx106-elf openssl nodejs systemd passwd chromium shellcheck rauc squashfs-tools e2fsprogs)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
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
fi
