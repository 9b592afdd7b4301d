"""Applying system settings to a root filesystem: files first, then (only on the running
system) the commands that make them take effect.

Every file is written only when its content changes, so a boot with an unchanged boot file
writes nothing to the SD card. ``Host.live`` is False when the root is a scratch directory
(tests, image builds): commands are then recorded instead of run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gateway.firstboot.settings import WifiSettings

log = logging.getLogger("gateway.firstboot")

SERVICE_GROUP = "sensor-gateway"
WPA_UNIT = "wpa_supplicant@wlan0.service"
# Started by systemd when wlan0 appears, so a Pi without WiFi (or QEMU) has no unit waiting
# for a device that never comes.
WPA_WANTS = "etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants"
WPA_CONF = "etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
SSH_KEYS = "etc/ssh/gateway_authorized_keys/root"
GROWN_FLAG = "var/lib/sensor-gateway-firstboot/root-grown"


@dataclass
class Host:
    """The system being configured: a root directory, and whether it is the running one."""

    root: Path
    live: bool = False
    commands: list[list[str]] = field(default_factory=list)

    def path(self, relative: str) -> Path:
        return self.root / relative

    def run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str] | None:
        """Run ``argv`` on the live system; record it otherwise. Output goes to the journal."""
        self.commands.append(argv)
        if not self.live:
            return None
        log.info("running: %s", " ".join(argv))
        return subprocess.run(argv, check=check, text=True, capture_output=True)


def write_if_changed(
    path: Path, content: str, mode: int | None = 0o644, group: str | None = None
) -> bool:
    """Atomically write ``content`` unless the file already holds it; True when written.
    ``mode`` None leaves permissions alone (FAT, where chmod fails)."""
    data = content.encode("utf-8")
    if path.is_symlink():
        # The image's read-only root links what first boot rewrites (/etc/hostname, ...) to
        # the data partition: the new file goes where the link points, the link stays.
        path = Path(os.path.realpath(path))
    try:
        if path.read_bytes() == data:
            return False
    except (FileNotFoundError, IsADirectoryError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())  # the card may lose power at any moment
        if mode is not None:
            os.chmod(tmp, mode)
        if group is not None:
            _chgrp(tmp, group)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)  # the rename itself must survive a power cut too
    return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the data is already synced
    finally:
        os.close(fd)


def _chgrp(path: str, group: str) -> None:
    try:
        shutil.chown(path, group=group)
    except LookupError:
        # The group is created by the image build and install.sh; a scratch root has none.
        log.debug("group %s does not exist; %s keeps its group", group, path)


def apply_hostname(host: Host, hostname: str) -> bool:
    """/etc/hostname and the 127.0.1.1 line of /etc/hosts (Debian's convention)."""
    changed = write_if_changed(host.path("etc/hostname"), hostname + "\n")
    hosts = host.path("etc/hosts")
    try:
        lines = hosts.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = ["127.0.0.1\tlocalhost", "::1\t\tlocalhost ip6-localhost ip6-loopback"]
    lines = [line for line in lines if not line.startswith("127.0.1.1")]
    lines.append(f"127.0.1.1\t{hostname}")
    changed |= write_if_changed(hosts, "\n".join(lines) + "\n")
    if changed:
        host.run(["hostname", hostname])
    return changed


def wpa_psk(ssid: str, password: str) -> str:
    """The 256-bit WPA key for a passphrase, as wpa_passphrase computes it, so the plain
    password is not stored on the root filesystem."""
    if len(password) == 64:
        return password.lower()
    key = hashlib.pbkdf2_hmac("sha1", password.encode(), ssid.encode(), 4096, 32)
    return key.hex()


def render_wpa_conf(wifi: WifiSettings) -> str:
    """wpa_supplicant config for one network; the SSID in hex so any bytes are safe."""
    network = [f"\tssid={wifi.ssid.encode().hex()}", "\tscan_ssid=1"]
    if wifi.password:
        network.append(f"\tpsk={wpa_psk(wifi.ssid, wifi.password)}")
    else:
        network.append("\tkey_mgmt=NONE")
    return (
        "# Written at boot from gateway.toml on the boot partition.\n"
        "ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev\n"
        "update_config=0\n"
        f"country={wifi.country}\n\n"
        "network={\n" + "\n".join(network) + "\n}\n"
    )


def apply_wifi(host: Host, wifi: WifiSettings | None) -> bool:
    """Configure (or remove) the WiFi network and (re)start wpa_supplicant on the live system."""
    conf = host.path(WPA_CONF)
    link = host.path(WPA_WANTS) / WPA_UNIT
    if wifi is None:
        changed = conf.exists() or link.is_symlink()
        conf.unlink(missing_ok=True)
        link.unlink(missing_ok=True)
        if changed:
            host.run(["systemctl", "daemon-reload"])
            host.run(["systemctl", "stop", "--no-block", WPA_UNIT], check=False)
        return changed
    changed = write_if_changed(conf, render_wpa_conf(wifi), mode=0o600)
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/lib/systemd/system/wpa_supplicant@.service")
        changed = True
    if changed:
        host.run(["systemctl", "daemon-reload"])
        if not host.live or Path("/sys/class/net/wlan0").exists():
            host.run(["systemctl", "restart", "--no-block", WPA_UNIT], check=False)
    return changed


def apply_ssh_keys(host: Host, keys: tuple[str, ...]) -> bool:
    """Root's keys from the boot file, in a file sshd reads besides ~/.ssh/authorized_keys
    (the image's sshd_config.d drop-in), so keys added by hand are never touched."""
    path = host.path(SSH_KEYS)
    if not keys:
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed
    return write_if_changed(path, "".join(k + "\n" for k in keys), mode=0o644)


def ensure_host_keys(host: Host) -> bool:
    """Per-device SSH host keys: the image ships none, so no two gateways share one."""
    if any(host.path("etc/ssh").glob("ssh_host_*_key")):
        return False
    host.run(["ssh-keygen", "-A"])
    return True


def grow_root(host: Host) -> bool:
    """Grow the root partition and filesystem to the whole card, once."""
    flag = host.path(GROWN_FLAG)
    if flag.exists():
        return False
    if host.live:
        _grow_live_root(host)
    else:
        host.run(["growpart", "<root disk>", "<root partition>"])
    write_if_changed(flag, "")
    return True


def _grow_live_root(host: Host) -> None:
    source = subprocess.run(
        ["findmnt", "-n", "-o", "SOURCE", "/"], check=True, text=True, capture_output=True
    ).stdout.strip()
    part = Path(source).resolve().name                        # e.g. mmcblk0p2, vda2
    sys_part = Path("/sys/class/block", part)
    number = (sys_part / "partition").read_text().strip()
    disk = sys_part.resolve().parent.name                      # e.g. mmcblk0, vda
    result = host.run(["growpart", f"/dev/{disk}", number], check=False)
    # growpart exits 1 with NOCHANGE when the partition already fills the disk.
    if result is not None and result.returncode not in (0, 1):
        log.warning("growpart failed: %s", result.stderr.strip() or result.stdout.strip())
        return
    host.run(["resize2fs", f"/dev/{part}"], check=False)
