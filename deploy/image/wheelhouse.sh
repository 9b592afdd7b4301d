#!/usr/bin/env bash
# Builds the wheelhouse the image installs from, offline inside the arm64 chroot: our wheel
# built from this tree, and every dependency as a binary wheel for CPython 3.11 on aarch64
# (Debian bookworm's python3). Usage: wheelhouse.sh DIR
set -euo pipefail
# shellcheck source=deploy/image/common.sh
. "$(dirname "$0")/common.sh"

dest="${1:?usage: wheelhouse.sh DIR}"
rm -rf "$dest"
mkdir -p "$dest"
"${PYTHON:-python3}" -m pip wheel -q --no-deps -w "$dest" "$REPO_DIR"
wheel=$(ls "$dest"/sensor_gateway-*.whl)
# esptool (the `flash` extra: `gateway node flash` on the Pi) is published as an sdist only;
# it is pure Python, so its wheel built here installs on arm64 as it is.
"${PYTHON:-python3}" -m pip wheel -q --no-deps --no-binary=esptool -w "$dest" "esptool>=5.0"
# --only-binary: nothing is compiled for arm64 on this x86 host; a dependency without an
# aarch64 or pure-Python wheel stops the build here rather than on the Pi.
"${PYTHON:-python3}" -m pip download -q --only-binary=:all: \
  --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --platform any \
  --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
  --find-links "$dest" -d "$dest" "${wheel}[flash]"
echo "    $(find "$dest" -name "*.whl" | wc -l) wheels in $dest" >&2
