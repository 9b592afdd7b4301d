#!/usr/bin/env bash
# Puts a root directory onto a disk image without loop devices or mounts: a FAT32 boot
# partition (RASPIFIRM, the contents of /boot/firmware) and an ext4 root (RASPIROOT) behind
# an MBR, which the Pi 3's boot ROM requires.  Usage: assemble.sh ROOTFS_DIR IMAGE
set -euo pipefail
# shellcheck source=deploy/image/common.sh
. "$(dirname "$0")/common.sh"

rootfs="${1:?}" image="${2:?}"
BOOT_MIB=256
OFFSET_MIB=4
host_deps dosfstools mtools e2fsprogs fdisk

work="$(dirname "$image")/assemble"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

# Boot partition: the firmware, kernel, initrd, device trees and gateway.toml.
mkfs.vfat -C -F 32 -n RASPIFIRM "$work/boot.img" $((BOOT_MIB * 1024)) >/dev/null
mcopy -s -p -i "$work/boot.img" "$rootfs"/boot/firmware/* ::/

# Root partition: everything else, /boot/firmware left as an empty mount point. Sized to the
# content plus room for logs and state; first boot grows it to the card.
mv "$rootfs/boot/firmware" "$work/firmware"
mkdir "$rootfs/boot/firmware"
used_mib=$(du -s --block-size=1M "$rootfs" | cut -f1)
root_mib=$(( (used_mib * 12 / 10 + 256 + 63) / 64 * 64 ))
mkfs.ext4 -q -F -L RASPIROOT -d "$rootfs" -E root_owner=0:0 "$work/root.img" "${root_mib}M"
rmdir "$rootfs/boot/firmware"
mv "$work/firmware" "$rootfs/boot/firmware"

total_mib=$((OFFSET_MIB + BOOT_MIB + root_mib))
rm -f "$image"
truncate -s "${total_mib}M" "$image"
sfdisk -q "$image" <<PART
label: dos
unit: sectors
start=$((OFFSET_MIB * 2048)), size=$((BOOT_MIB * 2048)), type=c, bootable
start=$(((OFFSET_MIB + BOOT_MIB) * 2048)), size=$((root_mib * 2048)), type=83
PART
dd if="$work/boot.img" of="$image" bs=1M seek="$OFFSET_MIB" conv=notrunc,sparse status=none
dd if="$work/root.img" of="$image" bs=1M seek=$((OFFSET_MIB + BOOT_MIB)) conv=notrunc,sparse status=none
echo "    $image: ${total_mib} MiB (boot ${BOOT_MIB} MiB, root ${root_mib} MiB, ${used_mib} MiB used)" >&2
