#!/usr/bin/env bash
# Puts the A/B layout onto a disk image without loop devices or mounts, behind an MBR (the
# Pi 3's boot ROM requires one) with the disk id 0x53475731, so the slots are
# PARTUUID=53475731-02 and -03 on every card:
#   1 RASPIFIRM  FAT32  firmware, U-Boot, boot.scr, boot-slot.env, gateway.toml
#   2 root A     ext4   the system (ROOT_EXT4, also the update bundle's content)
#   3 root B     ext4   empty until the first update is written there
#   4 GWDATA     ext4   settings, users, state; grown to the card at first boot
# Usage: assemble.sh ROOTFS_DIR BOOT_DIR DATA_DIR IMAGE ROOT_EXT4
set -euo pipefail
# shellcheck source=deploy/image/common.sh
. "$(dirname "$0")/common.sh"

rootfs="${1:?}" boot="${2:?}" data="${3:?}" image="${4:?}" root_ext4="${5:?}"
BOOT_MIB=256
OFFSET_MIB=4
DATA_MIB=128
host_deps dosfstools mtools e2fsprogs fdisk

work="$(dirname "$image")/assemble"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

mkfs.vfat -C -F 32 -n RASPIFIRM "$work/boot.img" $((BOOT_MIB * 1024)) >/dev/null
mcopy -s -p -i "$work/boot.img" "$boot"/* ::/

make_root_fs "$rootfs" "$root_ext4"
root_mib=$(( $(stat -c %s "$root_ext4") / 1048576 ))
[ "$root_mib" -le "$SLOT_MIB" ] || die "the root file system ($root_mib MiB) does not fit a slot ($SLOT_MIB MiB)"

mkfs.ext4 -q -F -L GWDATA -d "$data" -E root_owner=0:0 "$work/data.img" "${DATA_MIB}M"

a=$((OFFSET_MIB + BOOT_MIB)) b=$((OFFSET_MIB + BOOT_MIB + SLOT_MIB)) d=$((OFFSET_MIB + BOOT_MIB + 2 * SLOT_MIB))
total_mib=$((d + DATA_MIB))
rm -f "$image"
truncate -s "${total_mib}M" "$image"
sfdisk -q "$image" <<PART
label: dos
label-id: 0x53475731
unit: sectors
start=$((OFFSET_MIB * 2048)), size=$((BOOT_MIB * 2048)), type=c, bootable
start=$((a * 2048)), size=$((SLOT_MIB * 2048)), type=83
start=$((b * 2048)), size=$((SLOT_MIB * 2048)), type=83
start=$((d * 2048)), size=$((DATA_MIB * 2048)), type=83
PART
dd if="$work/boot.img" of="$image" bs=1M seek="$OFFSET_MIB" conv=notrunc,sparse status=none
dd if="$root_ext4" of="$image" bs=1M seek="$a" conv=notrunc,sparse status=none
dd if="$work/data.img" of="$image" bs=1M seek="$d" conv=notrunc,sparse status=none
echo "    $image: ${total_mib} MiB (boot ${BOOT_MIB} MiB, slots A and B ${SLOT_MIB} MiB each with" \
  "a ${root_mib} MiB root in A, data ${DATA_MIB} MiB)" >&2
