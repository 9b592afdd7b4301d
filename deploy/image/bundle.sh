#!/usr/bin/env bash
# The update bundle written beside the image: the root filesystem as a signed RAUC bundle
# (verity format: every block is checked as it is installed) and its .sha256.
# Usage: bundle.sh ROOTFS_DIR OUT.raucb
# Signing: UPDATE_KEY and UPDATE_CERT (PEM files); without them a development key and
# self-signed certificate are made once in $CACHE_DIR/update-keys. A gateway installs only
# bundles whose signature chains to the certificate its own image carries, so keep the key.
# BUNDLE_FORMAT=plain makes RAUC's older format, which installs without the kernel's
# device mapper (the tests' machines lack it; the image's kernel has it).
set -euo pipefail
# shellcheck source=deploy/image/common.sh
. "$(dirname "$0")/common.sh"

rootfs="${1:?usage: bundle.sh ROOTFS_DIR OUT.raucb}" out="${2:?usage: bundle.sh ROOTFS_DIR OUT.raucb}"
host_deps rauc squashfs-tools e2fsprogs openssl

if [ -z "${UPDATE_KEY:-}" ] || [ -z "${UPDATE_CERT:-}" ]; then
  keys="$CACHE_DIR/update-keys"
  UPDATE_KEY="$keys/key.pem" UPDATE_CERT="$keys/cert.pem"
  if [ ! -s "$UPDATE_KEY" ] || [ ! -s "$UPDATE_CERT" ]; then
    mkdir -p "$keys"
    chmod 0700 "$keys"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7300 \
      -subj "/CN=sensor-gateway development updates" \
      -keyout "$UPDATE_KEY" -out "$UPDATE_CERT" 2>/dev/null
    echo "    made a development update key: $UPDATE_KEY (set UPDATE_KEY/UPDATE_CERT for releases)" >&2
  fi
fi

work="$(mktemp -d "$(dirname "$out")/.bundle.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir "$work/content"
# The same root filesystem the image's root partition holds, sized the same way.
used_mib=$(du -s --block-size=1M "$rootfs" | cut -f1)
root_mib=$(( (used_mib * 12 / 10 + 256 + 63) / 64 * 64 ))
mkfs.ext4 -q -F -L RASPIROOT -d "$rootfs" -E root_owner=0:0 "$work/content/rootfs.ext4" "${root_mib}M"
cat > "$work/content/manifest.raucm" <<MANIFEST
[update]
compatible=sensor-gateway-rpi-arm64
version=$(project_version)

[bundle]
format=${BUNDLE_FORMAT:-verity}

[image.rootfs]
filename=rootfs.ext4
MANIFEST
rm -f "$out" "$out.sha256"
rauc bundle --cert="$UPDATE_CERT" --key="$UPDATE_KEY" --signing-keyring="$UPDATE_CERT" \
  "$work/content" "$work/bundle.raucb" >/dev/null
mv "$work/bundle.raucb" "$out"
(cd "$(dirname "$out")" && sha256sum "$(basename "$out")" > "$(basename "$out").sha256")
echo "    $out ($(du -h "$out" | cut -f1)), signed by $(openssl x509 -noout -subject -in "$UPDATE_CERT")" >&2
