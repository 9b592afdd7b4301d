#!/usr/bin/env bash
# The update bundle written beside the image: the root filesystem as a signed RAUC bundle
# (verity format: every block is checked as it is installed) and its .sha256.
# Usage: bundle.sh ROOTFS_DIR|ROOTFS.ext4 OUT.raucb
# Signing: UPDATE_KEY and UPDATE_CERT (PEM files); without them a development key and
# self-signed certificate are made once in $CACHE_DIR/update-keys (common.sh: update_keys).
# A gateway installs only bundles whose signature chains to the certificate its own image
# carries, so keep the key. BUNDLE_VERSION: the manifest's version (default: pyproject's).
# BUNDLE_FORMAT=plain makes RAUC's older format, which installs without the kernel's
# device mapper (the tests' machines lack it; the image's kernel has it).
set -euo pipefail
# shellcheck source=deploy/image/common.sh
. "$(dirname "$0")/common.sh"

usage="usage: bundle.sh ROOTFS_DIR|ROOTFS.ext4 OUT.raucb"
rootfs="${1:?$usage}" out="${2:?$usage}"
host_deps rauc squashfs-tools e2fsprogs openssl

update_keys

work="$(mktemp -d "$(dirname "$out")/.bundle.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir "$work/content"
# The image's own root file system (assemble.sh's, slot A of the image), or one made of a
# directory the same way.
if [ -f "$rootfs" ]; then
  cp --sparse=always "$rootfs" "$work/content/rootfs.ext4"
else
  make_root_fs "$rootfs" "$work/content/rootfs.ext4"
fi
fs_mib=$(( $(stat -c %s "$work/content/rootfs.ext4") / 1048576 ))
[ "$fs_mib" -le "$SLOT_MIB" ] || die "the root file system ($fs_mib MiB) does not fit a slot ($SLOT_MIB MiB)"
cat > "$work/content/manifest.raucm" <<MANIFEST
[update]
compatible=sensor-gateway-rpi-arm64
version=${BUNDLE_VERSION:-$(project_version)}

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
