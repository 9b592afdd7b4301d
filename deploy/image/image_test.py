"""Boot the SD image in QEMU and check it the way a user would: the first boot generates MQTT
credentials into a file on the boot partition, a real MQTT client logs in with them and gets
readings under home/#, a wrong password is refused, and the serial log shows no failed unit.

Usage (root, after deploy/image/build.sh --no-compress): python3 deploy/image/image_test.py

QEMU's ``virt`` machine with Debian's generic arm64 kernel from the image's boot partition;
the sensors are simulated (no GPIO in QEMU) through the gateway's own driver code.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
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
from collections.abc import Iterator
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


def prepare(image: Path, work: Path, boot_config: Path) -> tuple[Path, Path, Path]:
    """A copy of the image on a bigger disk (first boot grows the root; a power of two, as
    QEMU's SD card wants) with the test gateway.toml on its boot partition; returns
    (disk, kernel, initrd)."""
    work.mkdir(parents=True, exist_ok=True)
    disk = work / "disk.img"
    subprocess.run(["cp", "--sparse=always", str(image), str(disk)], check=True)
    size = 1 << (image.stat().st_size + 256 * 2**20).bit_length()
    os.truncate(disk, size)
    subprocess.run(["mcopy", "-o", "-i", fat(disk), str(boot_config), "::gateway.toml"], check=True)
    listing = subprocess.run(["mdir", "-b", "-i", fat(disk), "::"], check=True, text=True,
                             capture_output=True).stdout
    names = [Path(line.strip()).name for line in listing.splitlines()]
    kernel_name = next(n for n in names if n.startswith("vmlinuz-"))
    initrd_name = next(n for n in names if n.startswith("initrd.img-"))
    kernel, initrd = work / "vmlinuz", work / "initrd.img"
    for name, dest in ((kernel_name, kernel), (initrd_name, initrd)):
        subprocess.run(["mcopy", "-o", "-i", fat(disk), f"::{name}", str(dest)], check=True)
    return disk, kernel, initrd


def test_boot_config(template: Path) -> str:
    """The shipped gateway.toml with the test's hostname: defaults otherwise, so the test
    proves what a user gets by flashing and booting."""
    text = template.read_text(encoding="utf-8")
    text, count = re.subn(r'(?m)^hostname = ".*"$', f'hostname = "{TEST_HOSTNAME}"', text)
    if count != 1:
        raise SystemExit("deploy/image/gateway.toml has no hostname line to change")
    return text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_qemu(machine: str, disk: Path, kernel: Path, initrd: Path, port: int,
               http_port: int, serial_log: Path) -> subprocess.Popen[bytes]:
    """QEMU with MQTT forwarded to 127.0.0.1:port and the dashboard (80) to http_port only. ``virt``: virtio disk and network,
    2 cores. ``raspi3b``: the Pi 3's SoC with the image as its SD card and a USB network
    adapter (the Pi 3's own Ethernet hangs off USB too); closer to the real board, slower."""
    net = (f"user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:1883"
           f",hostfwd=tcp:127.0.0.1:{http_port}-:80")
    # Unit names rather than descriptions on the console, so the log can be checked for them.
    append = ("root=LABEL=RASPIROOT rw rootwait console=ttyAMA0 net.ifnames=0"
              " systemd.status_unit_format=name")
    if machine == "virt":
        board = [
            "-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "1024",
            "-drive", f"file={disk},format=raw,if=none,id=hd0,cache=unsafe",
            "-device", "virtio-blk-pci,drive=hd0",
            # romfile=: no network boot ROM (the kernel is given), so QEMU starts without
            # ipxe-qemu, a package host_deps leaves out with the other recommends.
            "-netdev", net, "-device", "virtio-net-pci,netdev=net0,romfile=",
            "-object", "rng-random,filename=/dev/urandom,id=rng0",
            "-device", "virtio-rng-pci,rng=rng0",
        ]
    else:
        board = [
            "-M", "raspi3b", "-dtb", str(disk.parent / "board.dtb"),
            "-drive", f"file={disk},format=raw,if=sd,cache=unsafe",
            "-netdev", net, "-device", "usb-net,netdev=net0",
        ]
    argv = [
        "qemu-system-aarch64", *board,
        "-kernel", str(kernel), "-initrd", str(initrd), "-append", append,
        "-display", "none", "-monitor", "none", "-no-reboot",
        "-serial", f"file:{serial_log}",
    ]
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


# Units whose success the console must show: first boot (host keys before ssh), the gateway,
# mDNS and SSH.
EXPECTED = (
    "Finished sensor-gateway-firstboot.service",
    "Started sensor-gateway.service",
    "Started avahi-daemon.service",
    "Started ssh.service",
)


MULTI_USER = "Reached target multi-user.target"


def console(serial_log: Path) -> str:
    """The serial log so far, without the colours systemd puts in its status lines."""
    if not serial_log.exists():
        return ""
    return re.sub(r"\x1b\[[0-9;]*m", "", serial_log.read_text(errors="replace"))


# The initrd's e2fsck reports the root by its label; a pulled plug is repaired here.
ROOT_CHECKED = re.compile(r"RASPIROOT: clean|RASPIROOT: \d+/\d+ files")


def serial_problems(log: str) -> list[str]:
    """Lines of the console log that show a failed unit or a skipped file system check, and
    expected units (and the root's check) not shown."""
    failed = [line.strip() for line in log.splitlines()
              if re.search(r"\bFAILED\b|Dependency failed|Failed to start|fsck not present", line)]
    missing = [f"missing: {text}" for text in EXPECTED if text not in log]
    if not ROOT_CHECKED.search(log):
        missing.append("missing: the root file system check (RASPIROOT: clean)")
    return failed + missing


@dataclass
class Boot:
    """One boot of a copy of the image in QEMU."""

    disk: Path
    port: int
    http_port: int
    serial_log: Path
    timings: Timings
    deadline: float
    qemu: subprocess.Popen[bytes]


@contextlib.contextmanager
def booted(image: Path, work: Path, boot_config: Path, timeout: float, machine: str,
           extra_boot_files: tuple[Path, ...] = ()) -> Iterator[Boot]:
    """A fresh copy of ``image`` with ``boot_config`` (and ``extra_boot_files``) on its boot
    partition, running in QEMU until the block ends (then the power is cut)."""
    disk, kernel, initrd = prepare(image, work, boot_config)
    for extra in extra_boot_files:
        subprocess.run(["mcopy", "-o", "-i", fat(disk), str(extra), f"::{extra.name}"], check=True)
    if machine == "raspi3b":
        subprocess.run(["mcopy", "-o", "-i", fat(disk), "::bcm2837-rpi-3-b.dtb",
                        str(work / "board.dtb")], check=True)
    port = free_port()
    http_port = free_port()
    serial_log = work / "serial.log"
    serial_log.unlink(missing_ok=True)  # a log from an earlier run would pass for this one
    timings = Timings()
    qemu = start_qemu(machine, disk, kernel, initrd, port, http_port, serial_log)
    try:
        yield Boot(disk, port, http_port, serial_log, timings, time.monotonic() + timeout, qemu)
    finally:
        qemu.terminate()
        try:
            qemu.wait(timeout=20)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu.wait()
        print(f"timings since QEMU start: {timings.report()}")
        print(f"serial log: {serial_log}")


def run(image: Path, work: Path, template: Path, timeout: float, machine: str,
        backup: bool = True) -> int:
    boot_config = work / "gateway.toml"
    work.mkdir(parents=True, exist_ok=True)
    boot_config.write_text(test_boot_config(template), encoding="utf-8")
    with booted(image, work, boot_config, timeout, machine) as boot:
        code, password = _check(boot.disk, boot.port, boot.http_port, boot.serial_log,
                                boot.timings, boot.deadline, boot.qemu)
        if code or not backup or password is None:
            return code
        saved = work / "gateway-backup-imagetest.tar.gz"
        marker = str(time.time_ns() % 1_000_000)
        code = take_backup(boot, password, marker, saved)
        if code:
            return code
        first = first_history_point(boot, password)
        if first is None:
            return _fail("no history on the dashboard after the backup", boot.serial_log)
    # The plots average 5-minute buckets: the new card's first reading (a minute after it
    # starts, at the earliest) must fall in a later bucket than the old first one, so that
    # finding that bucket again proves the history came back.
    time.sleep(max(0.0, first + HISTORY_BUCKET - 45 - time.time()))
    print("--- a freshly flashed card with the backup on its boot partition ---")
    with booted(image, work / "restored", boot_config, timeout, machine, (saved,)) as boot:
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
    while MULTI_USER not in console(boot.serial_log):
        if time.monotonic() > boot.deadline:
            return _fail("multi-user.target never reached", boot.serial_log)
        time.sleep(2)
    time.sleep(5)
    problems = serial_problems(console(boot.serial_log))
    if problems:
        return _fail("failed units in the serial log:\n  " + "\n  ".join(problems), boot.serial_log)
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


def _check(disk: Path, port: int, http_port: int, serial_log: Path, timings: Timings,
           deadline: float, qemu: subprocess.Popen[bytes]) -> tuple[int, str | None]:
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

    while MULTI_USER not in console(serial_log):
        if time.monotonic() > deadline:
            return _fail("multi-user.target never reached", serial_log), None
        time.sleep(2)
    timings.mark("multi-user target")
    time.sleep(5)  # units started late in boot report their result a moment later
    problems = serial_problems(console(serial_log))
    if problems:
        return _fail("failed units in the serial log:\n  " + "\n  ".join(problems),
                     serial_log), None
    print("PASS: readings under home/# with the generated credentials; no failed unit")
    return 0, password


def _fail(reason: str, serial_log: Path) -> int:
    print(f"FAIL: {reason}", file=sys.stderr)
    if serial_log.exists():
        tail = serial_log.read_text(errors="replace").splitlines()[-40:]
        print("--- last lines of the serial log ---\n" + "\n".join(tail), file=sys.stderr)
    return 1


HOST_PACKAGES = ("qemu-system-arm", "mtools")
HOST_TOOLS = ("qemu-system-aarch64", "mcopy", "mtype", "mdir")


def missing_tools() -> list[str]:
    return [tool for tool in HOST_TOOLS if shutil.which(tool) is None]


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
    args = parser.parse_args()
    missing = missing_tools()
    if missing and os.geteuid() == 0:
        install_host_tools(here)
        missing = missing_tools()
    if missing:
        print(f"missing {', '.join(missing)}: apt-get install {' '.join(HOST_PACKAGES)}", file=sys.stderr)
        return 2
    return run(args.image, args.work / args.machine, here / "gateway.toml", args.timeout,
               args.machine, args.backup)


if __name__ == "__main__":
    sys.exit(main())
