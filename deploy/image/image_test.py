"""Boot the SD image in QEMU and check it the way a user would: the first boot generates MQTT
credentials into a file on the boot partition, a real MQTT client logs in with them and gets
readings under home/#, a wrong password is refused, and the serial log shows no failed unit.

Usage (root, after deploy/image/build.sh --no-compress): python3 deploy/image/image_test.py

QEMU's ``virt`` machine boots the image as the Pi does, through U-Boot (Debian's
u-boot-qemu) and the image's own boot script, which picks slot A or B; the sensors are
simulated (no GPIO in QEMU) through the gateway's own driver code. Then updates: a good
bundle installed from the dashboard and booted into, a broken one that comes back by itself,
and a power cut in the middle of writing one (updates.py).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt

FAT_OFFSET = 4 * 1024 * 1024  # where assemble.sh puts the boot partition
TEST_HOSTNAME = "gw-imagetest"
TEST_USER = "phone"
MARKER_TOPIC = "home/imagetest/marker"
HISTORY_TOPIC = "home/living_room/temperature"
HISTORY_BUCKET = 300  # seconds per plotted point over 24 h (gateway/dashboard/app.py)


@dataclass
class Timings:
    """Seconds since QEMU started, for the report."""

    start: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.monotonic() - self.start)

    def report(self) -> str:
        return ", ".join(f"{name} {secs:.0f}s" for name, secs in self.marks.items())


def fat(image: Path) -> str:
    """mtools' name for the boot partition inside the image file."""
    return f"{image}@@{FAT_OFFSET}"


def prepare(image: Path, work: Path, boot_config: Path) -> Path:
    """A copy of the image on a bigger disk (first boot grows the data partition; a power of
    two, as QEMU's SD card wants) with the test gateway.toml on its boot partition."""
    work.mkdir(parents=True, exist_ok=True)
    disk = work / "disk.img"
    subprocess.run(["cp", "--sparse=always", str(image), str(disk)], check=True)
    size = 1 << (image.stat().st_size + 256 * 2**20).bit_length()
    os.truncate(disk, size)
    subprocess.run(["mcopy", "-o", "-i", fat(disk), str(boot_config), "::gateway.toml"], check=True)
    return disk


def test_boot_config(template: Path, ssh_key: str) -> str:
    """The shipped gateway.toml with the test's hostname and SSH key: defaults otherwise, so
    the test proves what a user gets by flashing and booting."""
    text = template.read_text(encoding="utf-8")
    text, count = re.subn(r'(?m)^hostname = ".*"$',
                          f'hostname = "{TEST_HOSTNAME}"\nssh_authorized_keys = ["{ssh_key}"]', text)
    if count != 1:
        raise SystemExit("deploy/image/gateway.toml has no hostname line to change")
    return text


def ssh_key(work: Path) -> Path:
    """The test's SSH key (root logs in with it: the boot file's ssh_authorized_keys)."""
    key = work / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "imagetest",
                        "-f", str(key)], check=True)
    return key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Ports:
    """Host ports forwarded to the guest's MQTT (1883), dashboard (80) and SSH (22)."""

    mqtt: int
    http: int
    ssh: int


#: QEMU's own U-Boot build (u-boot-qemu); the Pi's (rpi_arm64) comes from the image's boot
#: partition, as the Pi firmware loads it.
UBOOT_VIRT = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")


def start_qemu(machine: str, disk: Path, ports: Ports, serial_log: Path) -> subprocess.Popen[bytes]:
    """QEMU with the ports forwarded to 127.0.0.1 only, booting the disk through U-Boot and
    the image's boot script, as the Pi does; a reboot of the guest restarts the machine.
    ``virt``: virtio disk and network, 2 cores, u-boot-qemu as its firmware. ``raspi3b``: the
    Pi 3's SoC with the image as its SD card, the image's U-Boot for the Pi (rpi_arm64) and
    the Pi 3's device tree from its boot partition, as the Pi firmware would load them, and a USB network adapter (the Pi 3's own Ethernet hangs off USB too); slower."""
    net = (f"user,id=net0,hostfwd=tcp:127.0.0.1:{ports.mqtt}-:1883"
           f",hostfwd=tcp:127.0.0.1:{ports.http}-:80,hostfwd=tcp:127.0.0.1:{ports.ssh}-:22")
    if machine == "virt":
        board = [
            "-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "1024",
            "-bios", str(UBOOT_VIRT),
            "-drive", f"file={disk},format=raw,if=none,id=hd0,cache=unsafe",
            "-device", "virtio-blk-pci,drive=hd0",
            # romfile=: no network boot ROM, so QEMU starts without ipxe-qemu, a package
            # host_deps leaves out with the other recommends.
            "-netdev", net, "-device", "virtio-net-pci,netdev=net0,romfile=",
            "-object", "rng-random,filename=/dev/urandom,id=rng0",
            "-device", "virtio-rng-pci,rng=rng0",
        ]
    else:
        board = [
            "-M", "raspi3b", "-kernel", str(disk.parent / "u-boot-rpi.bin"),
            "-dtb", str(disk.parent / "board.dtb"),
            "-drive", f"file={disk},format=raw,if=sd,cache=unsafe",
            "-netdev", net, "-device", "usb-net,netdev=net0",
        ]
    argv = ["qemu-system-aarch64", *board, "-display", "none", "-monitor", "none",
            "-serial", f"file:{serial_log}"]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL)


def read_credentials(disk: Path) -> dict[str, str]:
    """gateway-credentials.txt from the boot partition, as a user's PC would read it."""
    result = subprocess.run(["mtype", "-i", fat(disk), "::gateway-credentials.txt"],
                            text=True, capture_output=True)
    if result.returncode != 0:
        return {}
    try:
        return {k: v for k, v in tomllib.loads(result.stdout).items() if isinstance(v, str)}
    except tomllib.TOMLDecodeError:
        return {}  # caught mid-write; read again


def connect_code(port: int, username: str, password: str, timeout: float = 20.0) -> int | None:
    """CONNACK reason code for these credentials (0 = accepted); None when no CONNACK came."""
    done = threading.Event()
    result: list[int] = []

    def on_connect(client, userdata, flags, reason_code, properties) -> None:  # noqa: ARG001
        result.append(reason_code.value)
        done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"imagetest-{time.time_ns()}")
    client.username_pw_set(username, password)
    client.on_connect = on_connect
    try:
        client.connect("127.0.0.1", port, keepalive=30)
    except OSError:
        return None
    client.loop_start()
    done.wait(timeout)
    client.disconnect()
    client.loop_stop()
    return result[0] if result else None


def readings(port: int, username: str, password: str, timeout: float) -> dict[str, str]:
    """Numeric values published under home/# (status topics are not readings): those that
    arrive within a few seconds of the first one, or none before ``timeout``."""
    got = threading.Event()
    reading: dict[str, str] = {}

    def on_connect(client, userdata, flags, reason_code, properties) -> None:  # noqa: ARG001
        if not reason_code.is_failure:
            client.subscribe("home/#", qos=0)

    def on_message(client, userdata, message) -> None:  # noqa: ARG001
        payload = message.payload.decode(errors="replace")
        try:
            float(payload)
        except ValueError:
            return
        reading[message.topic] = payload
        got.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"imagetest-sub-{time.time_ns()}")
    client.username_pw_set(username, password)
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    if got.wait(timeout):
        time.sleep(5)  # retained values of the other sensors follow the first at once
    client.disconnect()
    client.loop_stop()
    return dict(reading)


# Units that must be active once the system is up: the data partition, first boot (host
# keys before ssh), the gateway, its health check (which confirms the slot), mDNS and SSH.
# Asked over SSH: the console stops showing unit status once the serial getty starts,
# which may be before the last of these.
EXPECTED = (
    "sensor-gateway-data.service",
    "sensor-gateway-firstboot.service",
    "sensor-gateway.service",
    "sensor-gateway-health.service",
    "avahi-daemon.service",
    "ssh.service",
)


MULTI_USER = "Reached target multi-user.target"
#: Printed by the image's boot script (deploy/image/boot.cmd) before it starts a slot.
BOOTING_SLOT = re.compile(r"sensor-gateway: booting slot ([AB])")


def console(serial_log: Path) -> str:
    """The serial log so far, without the colours systemd puts in its status lines."""
    if not serial_log.exists():
        return ""
    return re.sub(r"\x1b\[[0-9;]*m", "", serial_log.read_text(errors="replace"))


def boots(log: str) -> list[str]:
    """The console log cut into boots, each from U-Boot's banner (a reboot of the guest
    keeps writing the same log)."""
    parts = re.split(r"(?m)^(?=U-Boot 20\d\d\.)", log)
    return [part for part in parts if part.startswith("U-Boot ")] or [log]


def booted_slots(log: str) -> list[str]:
    """The slots the boot script started, in order."""
    return BOOTING_SLOT.findall(log)


# The initrd's e2fsck reports the root by its label; a pulled plug is repaired here. The
# data partition is checked by systemd-fsck before it is mounted.
ROOT_CHECKED = re.compile(r"RASPIROOT: clean|RASPIROOT: \d+/\d+ files")
DATA_CHECKED = "Finished systemd-fsck@dev-"


def serial_problems(log: str) -> list[str]:
    """Lines of the console log that show a failed unit or a skipped file system check, and
    the file system checks not shown."""
    failed = [line.strip() for line in log.splitlines()
              if re.search(r"\bFAILED\b|Dependency failed|Failed to start|fsck not present", line)]
    missing = []
    if not ROOT_CHECKED.search(log):
        missing.append("missing: the root file system check (RASPIROOT: clean)")
    if DATA_CHECKED not in log:
        missing.append("missing: the data partition's check (systemd-fsck)")
    return failed + missing


#: where the image puts the node firmware of its release (gateway/node_firmware.py looks there)
SHIPPED_FIRMWARE = "/usr/share/sensor-gateway/firmware"


def system_problems(boot: Boot, log: str) -> list[str]:
    """Once the boot has finished (`systemctl is-system-running --wait`, over SSH): failed
    units, EXPECTED units not active, and serial_problems of ``log``."""
    try:
        state = ssh(boot, "systemctl", "is-system-running", "--wait", timeout=600).stdout.strip()
        failed = ssh(boot, "systemctl", "--failed", "--plain", "--no-legend").stdout.split()
        active = ssh(boot, "systemctl", "is-active", *EXPECTED).stdout.split()
        # The node firmware the image ships, and esptool for `gateway node flash`.
        images = ssh(boot, "gateway", "node", "firmware", "list").stdout
        flasher = ssh(boot, "/opt/sensor-gateway/venv/bin/python", "-c", "import esptool")
    except subprocess.TimeoutExpired:
        return ["the system did not finish booting (systemctl is-system-running --wait)"]
    problems = [] if state == "running" else [f"system state {state!r}"]
    problems += [f"failed: {unit}" for unit in failed if unit.endswith((".service", ".mount",
                                                                         ".socket", ".path"))]
    problems += [f"not active: {unit} ({got})" for unit, got in zip(EXPECTED, active, strict=False)
                 if got != "active"]
    if len(active) != len(EXPECTED):
        problems.append(f"systemctl is-active answered {active}")
    if f"{SHIPPED_FIRMWARE}/node-" not in images:
        problems.append(f"no node firmware in {SHIPPED_FIRMWARE}: {images.strip()}")
    if flasher.returncode != 0:
        problems.append(f"esptool missing (gateway node flash): {flasher.stderr.strip()}")
    return problems + serial_problems(log)


@dataclass
class Boot:
    """A copy of the image in QEMU: the disk, the running QEMU and its console log (a new
    one after each power cut)."""

    disk: Path
    machine: str
    ports: Ports
    serial_log: Path
    timings: Timings
    deadline: float
    qemu: subprocess.Popen[bytes]
    key: Path

    @property
    def port(self) -> int:
        return self.ports.mqtt

    @property
    def http_port(self) -> int:
        return self.ports.http

    def power_cut(self) -> None:
        """Pull the plug: QEMU is killed (SIGKILL) wherever the guest is."""
        self.qemu.send_signal(signal.SIGKILL)
        self.qemu.wait()

    def power_on(self, timeout: float) -> None:
        """Start the machine again on the same disk, with a new console log."""
        number = len(list(self.serial_log.parent.glob("serial*.log"))) + 1
        self.serial_log = self.serial_log.with_name(f"serial-{number}.log")
        self.serial_log.unlink(missing_ok=True)
        print(f"timings since QEMU start: {self.timings.report()}")
        self.timings = Timings()
        self.deadline = time.monotonic() + timeout
        self.qemu = start_qemu(self.machine, self.disk, self.ports, self.serial_log)

    def stop(self) -> None:
        self.qemu.terminate()
        try:
            self.qemu.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.qemu.kill()
            self.qemu.wait()


@contextlib.contextmanager
def booted(image: Path, work: Path, boot_config: Path, timeout: float, machine: str,
           key: Path, extra_boot_files: tuple[Path, ...] = ()) -> Iterator[Boot]:
    """A fresh copy of ``image`` with ``boot_config`` (and ``extra_boot_files``) on its boot
    partition, running in QEMU until the block ends (then the power is cut)."""
    disk = prepare(image, work, boot_config)
    for extra in extra_boot_files:
        subprocess.run(["mcopy", "-o", "-i", fat(disk), str(extra), f"::{extra.name}"], check=True)
    if machine == "raspi3b":
        for name, dest in (("bcm2837-rpi-3-b.dtb", "board.dtb"), ("u-boot.bin", "u-boot-rpi.bin")):
            subprocess.run(["mcopy", "-o", "-i", fat(disk), f"::{name}", str(work / dest)],
                           check=True)
    ports = Ports(free_port(), free_port(), free_port())
    for old in work.glob("serial*.log"):
        old.unlink()  # a log from an earlier run would pass for this one
    serial_log = work / "serial.log"
    timings = Timings()
    qemu = start_qemu(machine, disk, ports, serial_log)
    boot = Boot(disk, machine, ports, serial_log, timings, time.monotonic() + timeout, qemu, key)
    try:
        yield boot
    finally:
        boot.stop()
        print(f"timings since QEMU start: {boot.timings.report()}")
        print(f"serial log: {boot.serial_log}")


def run(image: Path, work: Path, template: Path, timeout: float, machine: str,
        backup: bool = True, updates: Future[Updates] | None = None) -> int:
    """The first card's checks, its backup, the updates (``updates``: the bundles, made
    while the first card boots), and the backup restored onto a second card."""
    boot_config = work / "gateway.toml"
    work.mkdir(parents=True, exist_ok=True)
    key = ssh_key(work)
    public = key.with_suffix(".pub").read_text(encoding="utf-8").strip()
    boot_config.write_text(test_boot_config(template, public), encoding="utf-8")
    with booted(image, work, boot_config, timeout, machine, key) as boot:
        code, password = _check(boot)
        if code or password is None or not (backup or updates):
            return code
        saved = work / "gateway-backup-imagetest.tar.gz"
        marker = str(time.time_ns() % 1_000_000)
        code = take_backup(boot, password, marker, saved)
        if code:
            return code
        first = first_history_point(boot, password)
        if first is None:
            return _fail("no history on the dashboard after the backup", boot.serial_log)
        if updates is not None:
            code = test_updates(boot, updates.result(), Kept(password, marker, first), timeout)
            if code:
                return code
    if not backup:
        return 0
    # The plots average 5-minute buckets: the new card's first reading (a minute after it
    # starts, at the earliest) must fall in a later bucket than the old first one, so that
    # finding that bucket again proves the history came back.
    time.sleep(max(0.0, first + HISTORY_BUCKET - 45 - time.time()))
    print("--- a freshly flashed card with the backup on its boot partition ---")
    with booted(image, work / "restored", boot_config, timeout, machine, key, (saved,)) as boot:
        return _check_restored(boot, password, marker, first)


def take_backup(boot: Boot, password: str, marker: str, saved: Path) -> int:
    """A retained value to find again, then the dashboard's download of the running gateway."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"imagetest-pub-{time.time_ns()}")
    client.username_pw_set(TEST_USER, password)
    client.connect("127.0.0.1", boot.port, keepalive=30)
    client.loop_start()
    info = client.publish(MARKER_TOPIC, marker, qos=1, retain=True)
    info.wait_for_publish(timeout=20)
    client.disconnect()
    client.loop_stop()
    status, body = dashboard_status(boot.http_port, "/api/system/backup", (TEST_USER, password))
    if status != 200:
        return _fail(f"dashboard backup download: {status} {body[:200]!r}", boot.serial_log)
    saved.write_bytes(body)
    boot.timings.mark("backup downloaded")
    print(f"backup downloaded from the dashboard: {len(body)} bytes")
    return 0


def first_history_point(boot: Boot, password: str) -> float | None:
    """Start of the oldest plotted bucket of HISTORY_TOPIC, as the dashboard shows it."""
    status, body = dashboard_status(boot.http_port, f"/api/history?topic={HISTORY_TOPIC}&range=24h",
                                    (TEST_USER, password))
    points = json.loads(body).get("series", {}).get(HISTORY_TOPIC, []) if status == 200 else []
    return min((point[0] for point in points), default=None)


def _check_restored(boot: Boot, password: str, marker: str, first: float) -> int:
    """The new card came up as the old gateway: the old password, the retained value, the
    history from before the backup, the restore reported, no new password generated."""
    while connect_code(boot.port, TEST_USER, password) != 0:
        if time.monotonic() > boot.deadline or boot.qemu.poll() is not None:
            return _fail("the restored card does not take the old password", boot.serial_log)
        time.sleep(3)
    boot.timings.mark("CONNACK with the old password")
    # The guest writes the FAT partition when its cache says so: read until it is there.
    report = ""
    while "restored" not in report:
        if time.monotonic() > boot.deadline:
            return _fail(f"gateway-restore.txt: {report!r}", boot.serial_log)
        time.sleep(3)
        report = subprocess.run(["mtype", "-i", fat(boot.disk), "::gateway-restore.txt"],
                                text=True, capture_output=True).stdout
    if read_credentials(boot.disk):
        return _fail("a new password was generated over the restored one", boot.serial_log)
    values = readings(boot.port, TEST_USER, password, timeout=60)
    if values.get(MARKER_TOPIC) != marker:
        return _fail(f"retained {MARKER_TOPIC} is {values.get(MARKER_TOPIC)!r}, want {marker}",
                     boot.serial_log)
    oldest = first_history_point(boot, password)
    if oldest != first:
        return _fail(f"history: oldest point at {oldest}, the old card's at {first}", boot.serial_log)
    boot.timings.mark("old history")
    print(f"restored: old password logs in, {MARKER_TOPIC} = {marker}, history from {first:.0f}")
    problems = system_problems(boot, console(boot.serial_log))
    if problems:
        return _fail("after the boot:\n  " + "\n  ".join(problems), boot.serial_log)
    print("PASS: the backup restored onto a fresh card")
    return 0


def dashboard_status(http_port: int, path: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    """HTTP status and body of the dashboard's ``path`` (seen from outside the Pi)."""
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}{path}")
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _check(boot: Boot) -> tuple[int, str | None]:
    disk, port, http_port, serial_log = boot.disk, boot.port, boot.http_port, boot.serial_log
    timings, deadline, qemu = boot.timings, boot.deadline, boot.qemu
    password = None
    while time.monotonic() < deadline and qemu.poll() is None:
        if MULTI_USER in console(serial_log):
            timings.mark("multi-user target")
        password = password or read_credentials(disk).get(TEST_USER)
        if password:
            timings.mark("credentials file")
            if connect_code(port, TEST_USER, password) == 0:
                timings.mark("CONNACK")
                break
        time.sleep(3)
    else:
        return _fail("no MQTT login with generated credentials before the deadline"
                     if password else "no gateway-credentials.txt on the boot partition",
                     serial_log), None

    values = readings(port, TEST_USER, password, timeout=max(10.0, deadline - time.monotonic()))
    if not values:
        return _fail("logged in, but no reading under home/#", serial_log), None
    timings.mark("readings")
    for topic, value in sorted(values.items()):
        print(f"reading: {topic} = {value}")

    code = connect_code(port, TEST_USER, password + "-wrong")
    if code in (None, 0):
        return _fail(f"a wrong password was not refused (CONNACK {code})", serial_log), None
    print(f"wrong password refused (CONNACK {code:#x})")

    # The dashboard on port 80: closed to strangers, open to a broker user, with readings.
    status, _ = dashboard_status(http_port, "/api/state")
    if status != 401:
        return _fail(f"dashboard answered {status} without a login (want 401)", serial_log), None
    status, body = dashboard_status(http_port, "/api/state", (TEST_USER, password))
    entities = json.loads(body).get("entities") if status == 200 else None
    if not entities:
        return _fail(f"dashboard with the generated login: {status}, no entities",
                     serial_log), None
    timings.mark("dashboard")
    print(f"dashboard on port 80: 401 without login, {len(entities)} entities with it")

    problems = system_problems(boot, console(serial_log))
    timings.mark("boot finished")
    if problems:
        return _fail("after the boot:\n  " + "\n  ".join(problems), serial_log), None
    print("PASS: readings under home/# with the generated credentials; no failed unit")
    return 0, password


# --- updates: A/B slots, RAUC, the boot script's boot counting ----------------------------


@dataclass(frozen=True)
class Updates:
    """The bundles the update test installs: ``good`` (version ``good_version``) and
    ``broken`` (a gateway unit that cannot start), both signed with the image's key."""

    good: Path
    good_version: str
    broken: Path
    broken_version: str


@dataclass(frozen=True)
class Kept:
    """What the gateway held before the updates and must hold after them: the generated
    password, a retained value and the start of the plotted history."""

    password: str
    marker: str
    first: float


def bumped(version: str, step: int) -> str:
    """``version`` with its last number raised by ``step`` (0.1.0, 1 -> 0.1.1)."""
    head, _, last = version.rpartition(".")
    return f"{head}.{int(last) + step}" if last.isdigit() else f"{version}.{step}"


def make_bundles(rootfs: Path, root_ext4: Path, work: Path, version: str) -> Updates:
    """Two update bundles of the image's root file system, signed like `make image`'s:
    one with the gateway's version raised, one whose gateway unit cannot start. Made with
    deploy/image/bundle.sh from a copy of the root file system changed with debugfs (a
    minute, where a copy of the root directory and a new file system would take several)."""
    here = Path(__file__).resolve().parent
    work.mkdir(parents=True, exist_ok=True)
    init = next(rootfs.glob("opt/sensor-gateway/venv/lib/python3*/site-packages/gateway/__init__.py"))
    inside = "/" + str(init.relative_to(rootfs))
    good_version, broken_version = bumped(version, 1), bumped(version, 2)
    started = time.monotonic()
    bundles = []
    for name, new_version, broken in (("good", good_version, False), ("broken", broken_version, True)):
        out = work / f"{name}.raucb"
        if out.exists() and out.stat().st_mtime > root_ext4.stat().st_mtime:
            bundles.append(out)  # made of this very root file system by an earlier run
            continue
        fs = work / f"{name}.ext4"
        subprocess.run(["cp", "--sparse=always", str(root_ext4), str(fs)], check=True)
        patched = work / f"{name}-__init__.py"
        patched.write_text(init.read_text(encoding="utf-8").replace(
            f'__version__ = "{version}"', f'__version__ = "{new_version}"'), encoding="utf-8")
        commands = [f"rm {inside}", f"write {patched} {inside}"]
        if broken:
            # A gateway that cannot start: the health check of the trial boot finds no broker.
            dropin = work / "broken.conf"
            dropin.write_text("[Service]\nExecStart=\nExecStart=/bin/false\n", encoding="utf-8")
            commands += [f"write {dropin} /etc/systemd/system/sensor-gateway.service.d/broken.conf"]
        subprocess.run(["debugfs", "-w", "-f", "-", str(fs)], input="\n".join(commands) + "\n",
                       text=True, check=True, capture_output=True)
        subprocess.run(["e2fsck", "-fy", str(fs)], check=False, capture_output=True)
        subprocess.run(["bash", str(here / "bundle.sh"), str(fs), str(out)], check=True,
                       env=dict(os.environ, BUNDLE_VERSION=new_version))
        fs.unlink()
        bundles.append(out)
    print(f"test bundles {good_version} and {broken_version} (broken) made in "
          f"{time.monotonic() - started:.0f}s")
    return Updates(bundles[0], good_version, bundles[1], broken_version)


def boot_counters(disk: Path) -> dict[str, str]:
    """BOOT_ORDER, BOOT_A_LEFT and BOOT_B_LEFT from boot-slot.env on the boot partition (a
    CRC32, then NUL-separated name=value pairs: U-Boot's environment format)."""
    raw = subprocess.run(["mtype", "-i", fat(disk), "::boot-slot.env"], capture_output=True,
                         check=True).stdout
    pairs = (item.decode(errors="replace").partition("=") for item in raw[4:].split(b"\0") if item)
    return {name: value for name, _, value in pairs if name.startswith("BOOT_")}


def ssh_argv(boot: Boot, *command: str) -> list[str]:
    return ["ssh", "-i", str(boot.key), "-p", str(boot.ports.ssh), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20", "root@127.0.0.1",
            # ssh hands the remote shell one line: each word quoted, so it stays one word
            *(shlex.quote(word) for word in command)]


def ssh(boot: Boot, *command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``command`` as root on the gateway, over SSH with the key from gateway.toml."""
    return subprocess.run(ssh_argv(boot, *command), text=True, capture_output=True,
                          timeout=timeout)


def copy_to(boot: Boot, source: Path, dest: str) -> None:
    subprocess.run(["scp", "-q", "-i", str(boot.key), "-P", str(boot.ports.ssh),
                    "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                    str(source), f"root@127.0.0.1:{dest}"], check=True, timeout=900)


def update_state(boot: Boot, password: str) -> dict[str, object] | None:
    """GET /api/system/update as the test user (an administrator: the image has no ACL);
    None while the gateway does not answer (rebooting)."""
    try:
        status, body = dashboard_status(boot.http_port, "/api/system/update", (TEST_USER, password))
    except (OSError, http.client.HTTPException):
        return None
    return json.loads(body) if status == 200 else None


def wait_update_state(boot: Boot, password: str, want: Callable[[dict[str, object]], bool],
                      what: str, timeout: float) -> dict[str, object] | None:
    """Poll the dashboard's update status until ``want`` holds; prints each new state."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline and boot.qemu.poll() is None:
        state = update_state(boot, password)
        summary = state and (state.get("state"), state.get("booted_slot"), state.get("progress"))
        if summary and summary != seen:
            print(f"  update status: {summary[0]} (slot {summary[1]}"
                  f"{f', {summary[2]} %' if summary[2] is not None else ''}): {state.get('message')}")
            seen = summary
        if state is not None and want(state):
            return state
        time.sleep(5)
    print(f"  gave up waiting for {what}", file=sys.stderr)
    return None


def data_kept(boot: Boot, kept: Kept) -> str | None:
    """What is missing of the data from before the update (None: nothing)."""
    if connect_code(boot.port, TEST_USER, kept.password) != 0:
        return "the old password no longer logs in"
    values = readings(boot.port, TEST_USER, kept.password, timeout=120)
    if values.get(MARKER_TOPIC) != kept.marker:
        return f"retained {MARKER_TOPIC} is {values.get(MARKER_TOPIC)!r}, want {kept.marker}"
    oldest = first_history_point(boot, kept.password)
    if oldest != kept.first:
        return f"history: oldest point at {oldest}, before the update at {kept.first}"
    return None


def kept_and_working(boot: Boot, kept: Kept, when: str) -> str | None:
    """What is wrong ``when`` (after an update, after a power cut): data from before that is
    missing, or a problem of the boot running now; None when all is well."""
    missing = data_kept(boot, kept)
    if missing:
        return f"{when}: {missing}"
    problems = latest_boot_problems(boot)
    if problems:
        return f"{when}, the boot:\n  " + "\n  ".join(problems)
    return None


def latest_boot_problems(boot: Boot) -> list[str]:
    """system_problems of the boot running now."""
    return system_problems(boot, boots(console(boot.serial_log))[-1])


def test_updates(boot: Boot, updates: Updates, kept: Kept, timeout: float) -> int:
    """(a) a good bundle from the dashboard, booted into and kept; (c) the power cut while one
    is written; (b) a broken one from the command line, tried and rolled back by itself."""
    started = time.monotonic()
    before = update_state(boot, kept.password)
    if not before or before.get("booted_slot") != "A" or before.get("state") != "idle":
        return _fail(f"before any update: {before}", boot.serial_log)

    print(f"--- (a) update to {updates.good_version} uploaded to the dashboard ---")
    upload = subprocess.run(
        ["curl", "-sS", "-u", f"{TEST_USER}:{kept.password}", "-F", f"bundle=@{updates.good}",
         "-w", "\n%{http_code}", f"http://127.0.0.1:{boot.http_port}/api/system/update"],
        text=True, capture_output=True, timeout=900)
    if not upload.stdout.rstrip().endswith("202"):
        return _fail(f"dashboard upload: {upload.stdout[-300:]} {upload.stderr[-300:]}",
                     boot.serial_log)
    boot.timings.mark("(a) bundle uploaded")
    state = wait_update_state(boot, kept.password,
                              lambda s: s.get("booted_slot") == "B" and s.get("state") == "good",
                              "slot B, state good", timeout)
    if state is None:
        return _fail("the good update did not come up as slot B, state good", boot.serial_log)
    if state.get("booted_version") != updates.good_version:
        return _fail(f"slot B runs version {state.get('booted_version')}, want "
                     f"{updates.good_version}", boot.serial_log)
    boot.timings.mark("(a) slot B good")
    wrong = kept_and_working(boot, kept, "after the update")
    if wrong:
        return _fail(wrong, boot.serial_log)
    print(f"(a) PASS: version {updates.good_version} in slot B, state good: {state.get('message')};"
          " password, retained value and history kept")

    for step in (power_cut_while_writing, broken_update):
        code = step(boot, updates, kept, timeout)
        if code:
            return code
    print(f"PASS: updates in {time.monotonic() - started:.0f}s")
    return 0


def broken_update(boot: Boot, updates: Updates, kept: Kept, timeout: float) -> int:
    """(b) a broken bundle from the command line: tried in slot A, rolled back to B by itself."""
    print(f"--- (b) broken update to {updates.broken_version} with `gateway system update` ---")
    copy_to(boot, updates.broken, "/root/broken.raucb")
    slots_before = len(booted_slots(console(boot.serial_log)))
    result = ssh(boot, "gateway", "system", "update", "/root/broken.raucb", timeout=1200)
    print("  " + result.stdout.strip().replace("\n", "\n  "))
    if "installed version" not in result.stdout:
        return _fail(f"gateway system update: {result.stdout[-500:]} {result.stderr[-500:]}",
                     boot.serial_log)
    boot.timings.mark("(b) broken bundle installed")
    state = wait_update_state(boot, kept.password, lambda s: s.get("state") == "rolled_back",
                              "the rollback", timeout)
    tried = booted_slots(console(boot.serial_log))[slots_before:]
    if state is None or state.get("booted_slot") != "B" or tried[:1] != ["A"]:
        return _fail(f"no rollback to slot B after trying A: {state}, slots booted {tried}",
                     boot.serial_log)
    if state.get("booted_version") != updates.good_version:
        return _fail(f"after the rollback: version {state.get('booted_version')}", boot.serial_log)
    boot.timings.mark("(b) rolled back")
    cli = ssh(boot, "gateway", "system", "update", "--status")
    print("  " + cli.stdout.strip().replace("\n", "\n  "))
    if "state: rolled_back" not in cli.stdout or "rolled back to" not in cli.stdout:
        return _fail(f"gateway system update --status: {cli.stdout} {cli.stderr}", boot.serial_log)
    missing = data_kept(boot, kept)
    if missing:
        return _fail(f"after the rollback: {missing}", boot.serial_log)
    print(f"(b) PASS: slots booted {tried}; {state.get('message')}")
    ssh(boot, "rm", "-f", "/root/broken.raucb")
    return 0


def power_cut_while_writing(boot: Boot, updates: Updates, kept: Kept, timeout: float) -> int:
    """(c) the power is cut while RAUC writes slot A: the next boot starts slot B, which
    works, and the half-written slot has no attempts left."""
    print("--- (c) the power is cut while a bundle is written ---")
    copy_to(boot, updates.good, "/root/update.raucb")
    installer = subprocess.Popen(ssh_argv(boot, "gateway", "system", "update", "--no-reboot",
                                          "/root/update.raucb"),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert installer.stdout is not None
    writing = False
    for line in installer.stdout:
        print(f"  {line.rstrip()}")
        if "100%" in line or "installed version" in line:
            break
        if "Copying image to" in line:
            writing = True
            time.sleep(5)  # well into the 1 GB copy, which takes a minute or more here
            break
    if not writing:
        return _fail("the install ended before the power could be cut while writing",
                     boot.serial_log)
    boot.power_cut()
    installer.kill()
    installer.wait()
    boot.timings.mark("(c) power cut")
    counters = boot_counters(boot.disk)
    # RAUC takes the slot it writes out of BOOT_ORDER and its attempts before it writes.
    if counters.get("BOOT_A_LEFT") != "0" or not counters.get("BOOT_ORDER", "").startswith("B"):
        return _fail(f"the half-written slot A can still boot: boot-slot.env says {counters}",
                     boot.serial_log)
    print(f"  boot-slot.env after the power cut: {counters}")
    print(f"  power cut while writing; console of the next boot: {boot.serial_log.parent}")
    boot.power_on(timeout)
    state = wait_update_state(boot, kept.password, lambda s: s.get("booted_slot") is not None,
                              "the gateway after the power cut", timeout)
    if state is None:
        return _fail("the gateway did not come back after the power cut", boot.serial_log)
    slots = booted_slots(console(boot.serial_log))
    if state.get("booted_slot") != "B" or slots != ["B"] or \
            state.get("booted_version") != updates.good_version:
        return _fail(f"after the power cut: {state}, slots booted {slots}", boot.serial_log)
    if state.get("state") != "failed" or "interrupted" not in str(state.get("message")):
        return _fail(f"after the power cut the status says {state}", boot.serial_log)
    wrong = kept_and_working(boot, kept, "after the power cut")
    if wrong:
        return _fail(wrong, boot.serial_log)
    boot.timings.mark("(c) back on slot B")
    print(f"(c) PASS: slot B ({updates.good_version}) boots and works: {state.get('message')}")
    return 0



def _fail(reason: str, serial_log: Path) -> int:
    print(f"FAIL: {reason}", file=sys.stderr)
    if serial_log.exists():
        tail = serial_log.read_text(errors="replace").splitlines()[-40:]
        print("--- last lines of the serial log ---\n" + "\n".join(tail), file=sys.stderr)
    return 1


HOST_PACKAGES = ("qemu-system-arm", "mtools", "u-boot-qemu", "curl",
                 "openssh-client", "e2fsprogs")
HOST_TOOLS = ("qemu-system-aarch64", "mcopy", "mtype", "mdir", "curl", "ssh", "debugfs")
HOST_FILES = (UBOOT_VIRT,)


def missing_tools() -> list[str]:
    return [tool for tool in HOST_TOOLS if shutil.which(tool) is None] + \
        [str(path) for path in HOST_FILES if not path.exists()]


def install_host_tools(here: Path) -> None:
    """QEMU and mtools from Debian, through the build scripts' own installer."""
    subprocess.run(["bash", "-c", f'. "{here}/common.sh" && host_deps {" ".join(HOST_PACKAGES)}'],
                   check=True)


def main() -> int:
    # A stopped test (SIGTERM, e.g. from make or a timeout) still runs the cleanup that ends QEMU.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The same cache directory as deploy/image/common.sh.
    cache = Path(os.environ.get("CACHE_DIR") or
                 Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sensor-gateway-image")
    parser.add_argument("--image", type=Path, default=cache / "sensor-gateway.img",
                        help="raw image from deploy/image/build.sh --no-compress")
    parser.add_argument("--work", type=Path, default=cache / "test")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the whole boot")
    parser.add_argument("--machine", choices=("virt", "raspi3b"), default="virt")
    parser.add_argument("--no-backup", dest="backup", action="store_false",
                        help="skip the second boot: the dashboard's backup restored onto a fresh card")
    parser.add_argument("--no-updates", dest="updates", action="store_false",
                        help="skip the updates: a good bundle, a broken one, a power cut while writing")
    parser.add_argument("--rootfs", type=Path, default=cache / "rootfs",
                        help="the image's root directory (build.sh's), for the gateway's version")
    parser.add_argument("--root-ext4", type=Path, default=cache / "rootfs.ext4",
                        help="the image's root file system (build.sh's), made into test bundles")
    args = parser.parse_args()
    missing = missing_tools()
    if missing and os.geteuid() == 0:
        install_host_tools(here)
        missing = missing_tools()
    if missing:
        print(f"missing {', '.join(missing)}: apt-get install {' '.join(HOST_PACKAGES)}", file=sys.stderr)
        return 2
    work = args.work / args.machine
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The bundles are made while the first card boots.
        updates = pool.submit(make_bundles, args.rootfs, args.root_ext4, work / "bundles",
                              image_version(args.rootfs)) if args.updates else None
        return run(args.image, work, here / "gateway.toml", args.timeout, args.machine,
                   args.backup, updates)


def image_version(rootfs: Path) -> str:
    """The gateway's version in the image's root directory."""
    init = next(rootfs.glob("opt/sensor-gateway/venv/lib/python3*/site-packages/gateway/__init__.py"))
    found = re.search(r'(?m)^__version__ = "(.*)"$', init.read_text(encoding="utf-8"))
    if found is None:
        raise SystemExit(f"no __version__ in {init}")
    return found.group(1)


if __name__ == "__main__":
    sys.exit(main())
