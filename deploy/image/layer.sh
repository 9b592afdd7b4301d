#!/usr/bin/env bash
# Our layer on top of the cached base: unpacks the base into a fresh root directory and
# installs the gateway with deploy/install.sh inside the arm64 chroot (the same script Pi OS
# users run), from a wheelhouse, plus the appliance's system settings (overlay/), then the
# A/B layout (ab-layout.sh: read-only root, the boot and data partitions' first contents).
# Usage: layer.sh BASE_TARBALL ROOTFS_DIR WHEELHOUSE_DIR BOOT_DIR DATA_DIR NODE_FIRMWARE_DIR
set -euo pipefail
# shellcheck source=deploy/image/common.sh
. "$(dirname "$0")/common.sh"

base="${1:?}" rootfs="${2:?}" wheelhouse="${3:?}" boot="${4:?}" data="${5:?}"
node_firmware="${6:?}"
need_root
enable_binfmt

rm -rf "$rootfs"
mkdir -p "$rootfs"
tar -C "$rootfs" -xpf "$base"

staging="$rootfs/tmp/sensor-gateway-src"
mkdir -p "$staging"
cp -a "$DEPLOY_DIR" "$staging/deploy"
cp -a "$wheelhouse" "$rootfs/tmp/wheelhouse"
cp "$IMAGE_DIR/overlay/etc/hostname" "$rootfs/etc/hostname"
# The config the service starts with if the boot partition's file is broken on first boot:
# what first boot makes of the shipped gateway.toml (it also proves that file valid).
"${PYTHON:-python3}" -m gateway.firstboot --check "$IMAGE_DIR/gateway.toml" > "$staging/initial.toml"

# The host's environment (pip settings, locale) means nothing inside the image.
in_chroot() {
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$rootfs" "$@"
}

mounts=()
cleanup() {
  local m
  for ((i=${#mounts[@]}-1; i>=0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
for m in proc sys dev; do
  mount --rbind "/$m" "$rootfs/$m"
  mount --make-rslave "$rootfs/$m"
  mounts+=("$rootfs/$m")
done

echo "    deploy/install.sh inside the arm64 chroot (pip under qemu-user)" >&2
in_chroot /bin/bash /tmp/sensor-gateway-src/deploy/install.sh \
  --wheelhouse /tmp/wheelhouse --config /tmp/sensor-gateway-src/initial.toml --firstboot --no-start
cleanup
mounts=()

cp -a "$IMAGE_DIR/overlay/." "$rootfs/"
gid=$(sed -n 's/^sensor-gateway:[^:]*:\([0-9]*\):.*/\1/p' "$rootfs/etc/group")
[ -n "$gid" ] || die "no sensor-gateway group in the image"
sed -i "s/@GATEWAY_GID@/$gid/" "$rootfs/etc/fstab"
install -m 0644 "$IMAGE_DIR/gateway.toml" "$rootfs/boot/firmware/gateway.toml"
# Bundles are installed only when signed for this certificate (bundle.sh signs with its key).
update_keys
install -m 0644 "$UPDATE_CERT" "$rootfs/etc/rauc/keyring.pem"
# `gateway system update`, `gateway passwd ...` over SSH without the venv's path.
ln -sfn /opt/sensor-gateway/venv/bin/gateway "$rootfs/usr/local/bin/gateway"
# The node firmware of this release: offered to nodes (gateway node update) and flashed by
# cable (gateway node flash) from the gateway's shipped images.
compgen -G "$node_firmware/node-*.bin" >/dev/null || die "no node firmware in $node_firmware"
install -d -m 0755 "$rootfs/usr/share/sensor-gateway/firmware"
install -m 0644 "$node_firmware"/node-*.bin "$rootfs/usr/share/sensor-gateway/firmware/"
in_chroot systemctl enable --quiet systemd-networkd systemd-resolved avahi-daemon ssh \
  sensor-gateway-data.service sensor-gateway-health.service sensor-gateway-reboot.path
# Nothing on a read-only root to upgrade or back up: the appliance changes by updates.
in_chroot systemctl mask --quiet apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer
# Nothing here needs the network "online"; waiting for it would fail on a Pi with an
# unplugged Ethernet port.
in_chroot systemctl mask --quiet systemd-networkd-wait-online.service
ln -sfn /run/systemd/resolve/stub-resolv.conf "$rootfs/etc/resolv.conf"

rm -rf "$rootfs/tmp/sensor-gateway-src" "$rootfs/tmp/wheelhouse" "$rootfs/root/.cache"
# Nothing secret or machine-specific in the image: first boot makes its own.
rm -f "$rootfs"/etc/ssh/ssh_host_* "$rootfs/var/lib/dbus/machine-id" "$rootfs/var/lib/systemd/random-seed"
: > "$rootfs/etc/machine-id"
test ! -s "$rootfs/etc/sensor-gateway/passwd" || die "MQTT users were baked into the image"
if grep -q '^root:[^*!:]' "$rootfs/etc/shadow"; then die "root has a password in the image"; fi

bash "$IMAGE_DIR/ab-layout.sh" "$rootfs" "$boot" "$data"
