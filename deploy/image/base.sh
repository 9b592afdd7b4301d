#!/usr/bin/env bash
# Builds the cached base root filesystem: Debian bookworm arm64 with the kernel, Raspberry Pi
# firmware, initramfs and the system packages from packages.txt, as a tarball.
# The tarball name carries a hash of this script and packages.txt (comments aside), so
# editing either rebuilds it and an unchanged base is reused (the slow part: ~8 min, mostly the initramfs).
# Usage: base.sh            prints the tarball path on stdout (building it when missing)
set -euo pipefail
# shellcheck source=deploy/image/common.sh
. "$(dirname "$0")/common.sh"

# Comment lines do not count, so documenting this script does not cost a rebuild.
base_hash=$(cat "$IMAGE_DIR/base.sh" "$IMAGE_DIR/packages.txt" | grep -v '^[[:space:]]*#' | sha256sum | cut -c1-12)
tarball="$CACHE_DIR/base-$SUITE-arm64-$base_hash.tar"

if [ -s "$tarball" ]; then
  echo "    base rootfs cached: $tarball" >&2
  echo "$tarball"
  exit 0
fi

need_root
host_deps mmdebstrap qemu-user-static binfmt-support arch-test
enable_binfmt
mkdir -p "$CACHE_DIR"

packages=$(grep -v -e '^#' -e '^$' "$IMAGE_DIR/packages.txt" | paste -sd, -)

# Written before any package is unpacked, so the kernel's first initramfs is already the small
# one. Both files are conffiles of their packages; --dpkgopt=force-confold keeps ours.
# MODULES=list with the storage, USB and virtio drivers a Pi 3/4 or QEMU's virt machine needs
# to mount the root filesystem; MODULES=most makes a 36 MB initrd and doubles the build time.
# shellcheck disable=SC2016  # expanded by mmdebstrap's shell, where $1 is the root
setup_hook='
set -e
mkdir -p "$1/etc/initramfs-tools" "$1/etc/default"
cat > "$1/etc/initramfs-tools/modules" <<MODS
bcm2835
sdhci_iproc
sdhci_pltfm
regulator_fixed
regulator_gpio
reset_raspberrypi
xhci_pci
xhci_plat_hcd
dwc2
usb_storage
uas
virtio_pci
virtio_mmio
virtio_blk
ext4
crc32c_generic
vfat
nls_cp437
nls_ascii
MODS
mkdir -p "$1/etc/initramfs-tools/conf.d"
echo MODULES=list > "$1/etc/initramfs-tools/conf.d/sensor-gateway-modules.conf"
# fsck for the root filesystem in the initrd: the power is pulled on a Pi without a button,
# so every boot checks (and repairs, fsck.repair=yes) the ext4 root before mounting it.
# The fsck hook of initramfs-tools takes the types from /etc/fstab, still empty here.
mkdir -p "$1/etc/initramfs-tools/hooks"
cat > "$1/etc/initramfs-tools/hooks/sensor-gateway-fsck" <<HOOK
#!/bin/sh
[ "\$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
for prog in /sbin/fsck /sbin/logsave /sbin/e2fsck /sbin/fsck.ext4; do
  [ -e "\$prog" ] && copy_exec "\$prog"
done
exit 0
HOOK
chmod 0755 "$1/etc/initramfs-tools/hooks/sensor-gateway-fsck"
cat > "$1/etc/default/raspi-firmware" <<CONF
# Root by label so the same image boots from an SD card or a USB disk.
ROOTPART=LABEL=RASPIROOT
CMA=64M
# Serial console on the GPIO header (pins 8/10) for debugging without a screen.
CONSOLES="ttyS1,115200 tty0"
CONF
'

# Generates config.txt and cmdline.txt in /boot/firmware from /etc/default/raspi-firmware and
# copies kernel, initrd and device trees there; ischroot makes the package skip it otherwise.
# shellcheck disable=SC2016
customize_hook='
set -e
chroot "$1" dpkg-reconfigure raspi-firmware
test -s "$1/boot/firmware/config.txt"
test -s "$1/boot/firmware/cmdline.txt"
ls "$1"/boot/firmware/vmlinuz-* "$1"/boot/firmware/initrd.img-* >/dev/null
# Without these the initrd prints "fsck not present, so skipping root file system".
for prog in fsck e2fsck fsck.ext4; do
  chroot "$1" sh -c "lsinitramfs /boot/initrd.img-*" | grep -q "sbin/$prog\$" \
    || { echo "$prog missing from the initramfs" >&2; exit 1; }
done
rm -f "$1/etc/machine-id" "$1/var/lib/dbus/machine-id"
: > "$1/etc/machine-id"
rm -f "$1"/etc/ssh/ssh_host_*
'

tmp="$tarball.partial"
rm -f "$tmp"
echo "    mmdebstrap $SUITE arm64 ($(echo "$packages" | tr , ' ' | wc -w) packages + dependencies)" >&2
mmdebstrap --arch=arm64 --variant=minbase --format=tar \
  --components="main non-free-firmware" \
  --include="$packages" \
  --dpkgopt=force-confold \
  --aptopt='Acquire::Retries "3"' \
  --setup-hook="$setup_hook" \
  --customize-hook="$customize_hook" \
  "$SUITE" "$tmp" \
  "deb $MIRROR $SUITE main non-free-firmware" \
  "deb $MIRROR $SUITE-updates main non-free-firmware" \
  "deb $SECURITY_MIRROR $SUITE-security main non-free-firmware"
mv "$tmp" "$tarball"
# Older bases only take disk space.
find "$CACHE_DIR" -maxdepth 1 -name "base-$SUITE-arm64-*.tar" ! -name "$(basename "$tarball")" -delete
echo "$tarball"
