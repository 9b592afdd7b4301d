# The A/B boot of the sensor gateway, run by U-Boot's distro boot from the FAT partition:
# the Pi's rpi_arm64 U-Boot (u-boot-rpi) and QEMU's qemu_arm64 (u-boot-qemu) alike.
# assemble.sh makes boot.scr of it with mkimage.
#
# RAUC's U-Boot boot counting: BOOT_ORDER names the slots to try in turn, BOOT_A_LEFT and
# BOOT_B_LEFT the attempts each has left. Every boot spends one attempt before the kernel
# starts; the booted system gives them back once it is healthy (`rauc status mark-good`,
# run by sensor-gateway-health.service); an installed update puts its slot first with 3.
#
# The three variables live in boot-slot.env on this partition (U-Boot's binary environment
# format: CRC32 + text), which Linux reads and writes with fw_printenv/fw_setenv
# (/etc/fw_env.config, RAUC's `uboot` backend). Not in U-Boot's own environment: QEMU's
# build keeps that in flash, the Pi's in uboot.env; one file of our own works the same on
# both, and a damaged one (bad CRC) only means the defaults below.

setenv slotenv boot-slot.env
setenv BOOT_ORDER
setenv BOOT_A_LEFT
setenv BOOT_B_LEFT
if load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} ${slotenv}; then
  env import -c ${kernel_addr_r} 0x4000 BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
fi
test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3

setenv slot
for BOOT_SLOT in "${BOOT_ORDER}"; do
  if test -n "${slot}"; then
    true
  elif test "${BOOT_SLOT}" = "A" && test ${BOOT_A_LEFT} -gt 0; then
    setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
    setenv slot A
    setenv slotpart 2
  elif test "${BOOT_SLOT}" = "B" && test ${BOOT_B_LEFT} -gt 0; then
    setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
    setenv slot B
    setenv slotpart 3
  fi
done

if test -z "${slot}"; then
  # Both systems used up their attempts (say the power failed during boot six times in a
  # row): try both again rather than stop with a dead gateway.
  echo "sensor-gateway: no slot has attempts left; trying both again"
  setenv BOOT_A_LEFT 3
  setenv BOOT_B_LEFT 3
  env export -c -s 0x4000 ${kernel_addr_r} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
  save ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} ${slotenv} 0x4000
  reset
fi

# Spend the attempt before booting: a system that hangs, panics or loses power counts it.
env export -c -s 0x4000 ${kernel_addr_r} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
save ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} ${slotenv} 0x4000
echo "sensor-gateway: booting slot ${slot} (attempts left: A ${BOOT_A_LEFT}, B ${BOOT_B_LEFT})"

if test "${board}" = "rpi"; then
  setenv console_args "console=ttyS1,115200 console=tty0 cma=64M"
else
  setenv console_args "console=ttyAMA0,115200"
fi
# ro: the root never changes but by an update. panic=10: a kernel that panics restarts
# (and spends an attempt) instead of hanging. fsck.repair=yes: the initrd repairs the root.
# systemd.show_status=1: unit status on the console throughout, also after a slow start job
# (`make image-test` reads it; on a Pi it is the serial console's log).
setenv bootargs "root=PARTUUID=53475731-0${slotpart} ro rootwait ${console_args} rauc.slot=${slot} panic=10 fsck.repair=yes net.ifnames=0 systemd.show_status=1 systemd.status_unit_format=name"
# The kernel and initrd come from the slot itself, so an update brings its own kernel. The
# initrd goes well above the (uncompressed, ~32 MiB) kernel; the device tree is the one the
# Pi firmware or QEMU handed to U-Boot.
setexpr initrd_addr ${kernel_addr_r} + 0x6000000
if load ${devtype} ${devnum}:${slotpart} ${kernel_addr_r} /boot/Image; then
  if load ${devtype} ${devnum}:${slotpart} ${initrd_addr} /boot/initrd.img; then
    booti ${kernel_addr_r} ${initrd_addr}:${filesize} ${fdt_addr}
  fi
fi

# Only reached when the slot holds no bootable system (never written, or written halfway):
# it gets no more attempts, and the next try is the other slot.
echo "sensor-gateway: slot ${slot} does not boot"
setenv BOOT_${slot}_LEFT 0
env export -c -s 0x4000 ${kernel_addr_r} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
save ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} ${slotenv} 0x4000
reset
