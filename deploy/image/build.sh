#!/usr/bin/env bash
# `make image`: a flashable SD card image for Raspberry Pi 3 and 4 (arm64), from Debian's
# archive alone. Steps, each reported with its time:
#   1 base rootfs  (cached in ~/.cache/sensor-gateway-image; rebuilt only when base.sh or packages.txt change)
#   2 wheelhouse   (our wheel + arm64 wheels of its dependencies) and the ESP8266 node
#                  firmware (make -C firmware firmware: the image offers it to nodes)
#   3 layer        (fresh copy of the base + deploy/install.sh in the chroot + overlay/, then
#                   the A/B layout: read-only root, boot and data partitions' contents)
#   4 assemble     (MBR: FAT boot partition, root slots A and B, data partition)
#   5 compress     (out/sensor-gateway-<version>-arm64.img.xz and its .sha256)
#   6 bundle       (out/sensor-gateway-<version>-arm64.raucb, the signed update, and its .sha256)
# Options: --no-compress (stop after the raw image; `make image-test` uses it).
# Environment: PYTHON (with the project's dependencies), CACHE_DIR, OUT_DIR.
set -euo pipefail
# shellcheck source=deploy/image/common.sh
. "$(dirname "$0")/common.sh"

compress=1
[ "${1:-}" = "--no-compress" ] && compress=0
need_root
cd "$REPO_DIR"
started=$SECONDS
mkdir -p "$CACHE_DIR" "$OUT_DIR"

step "1/6 base root filesystem (Debian $SUITE arm64)"
base=$(bash "$IMAGE_DIR/base.sh")
step_done

step "2/6 wheelhouse"
bash "$IMAGE_DIR/wheelhouse.sh" "$CACHE_DIR/wheelhouse"
host_deps make gcc-xtensa-lx106 picolibc-xtensa-lx106-elf libstdc++-arm-none-eabi-dev
rm -rf "$CACHE_DIR/node-firmware"
make -s -C "$REPO_DIR/firmware" firmware BUILD="$CACHE_DIR/node-firmware-build" \
  OUT="$CACHE_DIR/node-firmware" PYTHON="${PYTHON:-python3}" >&2
step_done

step "3/6 gateway layer"
bash "$IMAGE_DIR/layer.sh" "$base" "$CACHE_DIR/rootfs" "$CACHE_DIR/wheelhouse" \
  "$CACHE_DIR/bootfs" "$CACHE_DIR/data" "$CACHE_DIR/node-firmware"
step_done

step "4/6 assemble disk image"
raw="$CACHE_DIR/sensor-gateway.img"
bash "$IMAGE_DIR/assemble.sh" "$CACHE_DIR/rootfs" "$CACHE_DIR/bootfs" "$CACHE_DIR/data" "$raw" \
  "$CACHE_DIR/rootfs.ext4"
step_done

if [ "$compress" -eq 1 ]; then
  step "5/6 compress"
  host_deps xz-utils
  name="sensor-gateway-$(project_version)-arm64.img.xz"
  # -3: a few percent bigger than -6 and about three times faster; XZ_LEVEL=-9 for releases.
  xz -T0 "${XZ_LEVEL:--3}" -c "$raw" > "$OUT_DIR/$name.partial"
  mv "$OUT_DIR/$name.partial" "$OUT_DIR/$name"
  (cd "$OUT_DIR" && sha256sum "$name" > "$name.sha256")
  step_done
  echo "image: $OUT_DIR/$name ($(du -h "$OUT_DIR/$name" | cut -f1)), sha256 in $name.sha256" >&2

  step "6/6 update bundle"
  bash "$IMAGE_DIR/bundle.sh" "$CACHE_DIR/rootfs.ext4" "$OUT_DIR/sensor-gateway-$(project_version)-arm64.raucb"
  step_done
else
  echo "raw image: $raw" >&2
fi
echo "total: $((SECONDS - started))s" >&2
