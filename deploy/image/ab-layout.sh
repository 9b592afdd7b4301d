#!/usr/bin/env bash
# The A/B appliance layout of a finished root directory (after layer.sh's install): the root
# becomes read-only, so what the running system writes moves to the data partition, and the
# boot partition gets U-Boot and the boot script instead of the kernel.
#   ROOTFS_DIR  the root: kernel and initrd in /boot for U-Boot to load from the slot;
#               /boot/firmware left as an empty mount point
#   BOOT_DIR    made here: the boot partition's files (firmware, device trees, config.txt
#               with kernel=u-boot.bin, boot.scr, boot-slot.env, gateway.toml)
#   DATA_DIR    made here: the data partition's first contents (/data)
# Usage: ab-layout.sh ROOTFS_DIR BOOT_DIR DATA_DIR
set -euo pipefail
# shellcheck source=deploy/image/common.sh
. "$(dirname "$0")/common.sh"

rootfs="${1:?}" boot="${2:?}" data="${3:?}"
host_deps u-boot-tools

# --- the data partition: bind mounts (fstab) for whole directories ---
rm -rf "$data"
mkdir -p "$data"
for dir in etc/sensor-gateway var/lib/sensor-gateway var/lib/systemd root; do
  mkdir -p "$data/$(dirname "$dir")"
  # The gateway's state directory is made by systemd (StateDirectory=) at its first start.
  [ -d "$rootfs/$dir" ] || install -d -m 0750 "$rootfs/$dir"
  mv "$rootfs/$dir" "$data/$dir"
  mkdir "$rootfs/$dir"   # the mount point, with the moved directory's owner and mode
  chown --reference="$data/$dir" "$rootfs/$dir"
  chmod --reference="$data/$dir" "$rootfs/$dir"
done

# --- symbolic links for what first boot and the system write in /etc at every boot ---
# (gateway/firstboot writes through a link to where it points.) A link to a file first boot
# makes later is left dangling until then; an existing file or directory moves to /data.
link_to_data() {
  local path="$1"
  mkdir -p "$data/$(dirname "$path")"
  if [ -e "$rootfs/$path" ] || [ -L "$rootfs/$path" ]; then
    mv "$rootfs/$path" "$data/$path"
  fi
  ln -sfn "/data/$path" "$rootfs/$path"
}
for path in etc/hostname etc/hosts etc/wpa_supplicant etc/ssh/gateway_authorized_keys \
    etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants \
    etc/default/raspi-firmware-custom etc/modules-load.d/sensor-gateway.conf \
    var/lib/sensor-gateway-firstboot; do
  link_to_data "$path"
done
# The host keys: made on the data partition at first boot (sensor-gateway-data.service).
for key in rsa ecdsa ed25519; do
  link_to_data "etc/ssh/ssh_host_${key}_key"
  link_to_data "etc/ssh/ssh_host_${key}_key.pub"
done
mkdir -p "$data/etc/ssh/gateway_authorized_keys" "$data/var/lib/sensor-gateway-firstboot" \
  "$data/etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants" "$data/rauc"
# First boot grows the root partition unless this says it was done: here the data partition
# is the one that grows (sensor-gateway-data.service), the root slots keep their size.
: > "$data/var/lib/sensor-gateway-firstboot/root-grown"
mkdir -p "$rootfs/data"

# --- the kernel and initrd inside the slot, under fixed names for the boot script ---
kernel=$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -n1)
initrd=$(ls "$rootfs"/boot/initrd.img-* | sort -V | tail -n1)
# U-Boot's booti takes an uncompressed Image; Debian's arm64 vmlinuz is one (older ones
# were gzip'd).
if gzip -t "$kernel" 2>/dev/null; then zcat "$kernel" > "$rootfs/boot/Image"; else ln -f "$kernel" "$rootfs/boot/Image"; fi
ln -f "$initrd" "$rootfs/boot/initrd.img"

# --- the boot partition ---
rm -rf "$boot"
mv "$rootfs/boot/firmware" "$boot"
mkdir "$rootfs/boot/firmware"
# The kernel and initrd are loaded from the slot now; the firmware loads U-Boot instead.
rm -f "$boot"/vmlinuz-* "$boot"/initrd.img-* "$boot/cmdline.txt"
sed -i -e '/^# For details on the initramfs directive/,/^initramfs /d' \
  -e 's/^kernel=.*/kernel=u-boot.bin/' "$boot/config.txt"
grep -qx 'kernel=u-boot.bin' "$boot/config.txt" || die "config.txt has no kernel= line to replace"
# rpi_arm64: one U-Boot for the Pi 3 and 4 in 64-bit mode.
cp "$rootfs/usr/lib/u-boot/rpi_arm64/u-boot.bin" "$boot/u-boot.bin"
mkimage -A arm64 -O linux -T script -C none -n "sensor-gateway A/B boot" \
  -d "$IMAGE_DIR/boot.cmd" "$boot/boot.scr" >/dev/null
# The first boot's counters, in the format U-Boot's `env import -c` and fw_printenv read.
slot_txt=$(mktemp)
printf 'BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\n' > "$slot_txt"
mkenvimage -s 0x4000 -o "$boot/boot-slot.env" "$slot_txt"
rm -f "$slot_txt"
