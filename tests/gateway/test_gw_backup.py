"""`gateway system backup` of a running `gateway run` (broker store, users, ACL, TLS key,
history, discovery record), restored after everything was deleted: the restarted gateway
has the same retained messages, the persistent session gets the message queued for it
before the backup, the history holds the same samples and the same password logs in.
A damaged backup, or one from a newer gateway, is refused and changes nothing."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import shutil
import sqlite3
import ssl
import subprocess
import tarfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from gw_helpers import TIMEOUT, GatewayProcess, free_port, gateway_command, wait_listening

from broker.auth.passwords import PasswordFile
from gateway.hardware import is_raspberry_pi
from gateway.system.backup import make_backup
from gateway.system.contents import Part

pytestmark = pytest.mark.skipif(is_raspberry_pi(), reason="would drive the real pins of this Pi")

PASSWORD = "kitchen-phone-42"
SESSION = "alarm-panel"
NOBODY = 65534


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*gateway_command(), "system", *args], capture_output=True, text=True,
                          timeout=120)


def make_site(home: Path, port: int, tls_port: int) -> Path:
    """A gateway's config, users, ACL and TLS key, all under ``home``."""
    etc = home / "etc"
    etc.mkdir(parents=True)
    users = PasswordFile()
    users.set_password("phone", PASSWORD)
    users.set_password("viewer", PASSWORD)
    (etc / "passwd").write_text(users.dumps())
    (etc / "acl").write_text("user phone\ntopic readwrite #\n\nuser viewer\ntopic read home/#\n")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(etc / "key.pem"), "-out", str(etc / "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    (etc / "key.pem").chmod(0o600)
    config = etc / "gateway.toml"
    config.write_text(f"""
[gateway]
data_dir = "{home / 'state'}"

[broker]
data_dir = "{home / 'broker'}"
sys_interval = 0

[[broker.listeners]]
kind = "tcp"
host = "127.0.0.1"
port = {port}
password_file = "{etc / 'passwd'}"
acl_file = "{etc / 'acl'}"

[[broker.listeners]]
kind = "tls"
host = "127.0.0.1"
port = {tls_port}
certfile = "{etc / 'cert.pem'}"
keyfile = "{etc / 'key.pem'}"
password_file = "{etc / 'passwd'}"
acl_file = "{etc / 'acl'}"

[[room.kitchen]]
driver = "dht22"
pin = 4
interval = 2
""")
    return config


def start(config: Path, log: Path, port: int, web: int) -> GatewayProcess:
    gateway = GatewayProcess(["--config", str(config), "--dashboard-port", str(web),
                              "--hardware", "simulated"], log)
    wait_listening(port)
    return gateway


class Client:
    """A paho client logged in as phone; records what it receives."""

    def __init__(self, port: int, client_id: str = "", clean: bool = True,
                 password: str = PASSWORD, tls_ca: Path | None = None) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.got = threading.Condition()
        self.connected = threading.Event()
        self.result: tuple[int, bool] | None = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean, protocol=mqtt.MQTTv311)
        self.client.username_pw_set("phone", password)
        if tls_ca is not None:
            self.client.tls_set(ca_certs=str(tls_ca), cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(TIMEOUT), "no CONNACK"

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason: object, properties: object) -> None:
        self.result = (int(getattr(reason, "value", reason)), flags.session_present)
        self.connected.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.got:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self.got.notify_all()

    def wait_for(self, topic: str) -> tuple[str, bytes, bool]:
        with self.got:
            assert self.got.wait_for(lambda: any(m[0] == topic for m in self.messages), TIMEOUT), \
                f"nothing on {topic}: {self.messages}"
            return next(m for m in self.messages if m[0] == topic)

    def subscribe(self, topic_filter: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *args: done.set()
        self.client.subscribe(topic_filter, qos=1)
        assert done.wait(TIMEOUT)

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=TIMEOUT)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def history_rows(path: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT s.topic, r.t, r.v FROM raw r JOIN series s ON s.id = r.series "
                          "ORDER BY r.t, s.topic").fetchall()
    finally:
        db.close()


def test_backup_of_a_running_gateway_restores_onto_an_empty_system(tmp_path: Path) -> None:
    home = tmp_path / "gw"
    port, tls_port, web = free_port(), free_port(), free_port()
    config = make_site(home, port, tls_port)

    # A first run writes history to disk (at stop); the second is the one backed up.
    first = start(config, tmp_path / "first.log", port, web)
    watcher = Client(port)
    watcher.subscribe("home/kitchen/temperature")
    watcher.wait_for("home/kitchen/temperature")
    watcher.close()
    assert first.stop() == 0
    history = history_rows(home / "state/history.sqlite3")
    assert history, "the first run wrote no history"

    running = start(config, tmp_path / "running.log", port, web)
    try:
        panel = Client(port, SESSION, clean=False)
        panel.subscribe("alarm/#")
        panel.close()
        phone = Client(port)
        phone.publish("settings/heating", "21.5", retain=True)
        phone.publish("alarm/door", "open")  # queued for the disconnected panel
        phone.close()
        made = cli("backup", str(tmp_path / "gw.backup"), "--config", str(config),
                   "--boot", str(tmp_path / "no-boot"))
        assert made.returncode == 0, made.stderr
    finally:
        assert running.stop() == 0
    backup = tmp_path / "gw.backup"
    assert backup.stat().st_mode & 0o777 == 0o600
    for role in ("config", "password file", "acl file", "certfile", "keyfile", "broker store",
                 "history", "discovery record", "dashboard session key"):
        assert f"  {role}: " in made.stdout, role
    key_mode = (home / "etc/key.pem").stat().st_mode & 0o777
    key = (home / "etc/key.pem").read_bytes()

    shutil.rmtree(home)  # a fresh card: nothing of the old gateway is left
    restored = cli("restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert (home / "etc/key.pem").read_bytes() == key
    assert (home / "etc/key.pem").stat().st_mode & 0o777 == key_mode
    for path in (home / "broker/broker.db", home / "state/history.sqlite3"):
        assert path.stat().st_mode & 0o007 == 0, path
    assert history_rows(home / "state/history.sqlite3")[:len(history)] == history

    again = start(config, tmp_path / "restored.log", port, web)
    try:
        panel = Client(port, SESSION, clean=False)
        assert panel.result == (0, True)  # the session survived, with its queue
        assert panel.wait_for("alarm/door")[1] == b"open"
        panel.close()
        phone = Client(tls_port, tls_ca=home / "etc/cert.pem")  # the same key serves TLS
        phone.subscribe("settings/#")
        assert phone.wait_for("settings/heating") == ("settings/heating", b"21.5", True)
        phone.close()
        assert Client(port, password="wrong").result[0] != 0
    finally:
        assert again.stop() == 0


@pytest.fixture
def small_backup(tmp_path: Path) -> Path:
    """A backup of a stopped gateway with a history database and a password file."""
    home = tmp_path / "small"
    (home / "state").mkdir(parents=True)
    (home / "passwd").write_text("")
    db = sqlite3.connect(home / "state/history.sqlite3")
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    db.commit()
    db.close()
    config = home / "gateway.toml"
    config.write_text(f'[gateway]\ndata_dir = "{home / "state"}"\n\n[[broker.listeners]]\n'
                      f'port = 1883\npassword_file = "{home / "passwd"}"\n')
    out = tmp_path / "small.backup"
    result = cli("backup", str(out), "--config", str(config), "--boot", str(tmp_path))
    assert result.returncode == 0, result.stderr
    return out


def rewrite(backup: Path, change_manifest: object = None, change_file: bool = False) -> None:
    """Re-pack ``backup`` with its manifest or one file's bytes changed."""
    with tarfile.open(backup, "r:gz") as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar]  # type: ignore[union-attr]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for info, data in members:
            if info.name == "manifest.json" and callable(change_manifest):
                doc = json.loads(data)
                change_manifest(doc)
                data = json.dumps(doc).encode()
            elif info.name != "manifest.json" and change_file:
                data = data[:-1] + bytes([data[-1] ^ 1])
                change_file = False
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    backup.write_bytes(gzip.compress(out.getvalue()))


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "newer gateway", "newer format",
                                    "escaping path", "not a backup"])
def test_a_bad_backup_is_refused_and_changes_nothing(small_backup: Path, tmp_path: Path,
                                                     damage: str) -> None:
    if damage == "truncated":
        small_backup.write_bytes(small_backup.read_bytes()[:-200])
    elif damage == "flipped byte":
        rewrite(small_backup, change_file=True)
    elif damage == "newer gateway":
        rewrite(small_backup, lambda doc: doc.update(gateway_version="99.0.0"))
    elif damage == "newer format":
        rewrite(small_backup, lambda doc: doc.update(format_version=2))
    elif damage == "escaping path":
        rewrite(small_backup, lambda doc: doc["entries"][0].update(path="/../../etc/passwd"))
    else:
        small_backup.write_bytes(gzip.compress(b"hello"))
    root = tmp_path / "root"
    result = cli("restore", str(small_backup), "--root", str(root))
    assert result.returncode == 1
    expected = {"truncated": "is damaged", "flipped byte": "does not match its checksum",
                "newer gateway": "newer than this one", "newer format": "newer than this one",
                "escaping path": "is damaged", "not a backup": "is damaged or not a backup"}
    assert expected[damage] in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not any(p.is_file() for p in root.rglob("*")), "a refused backup wrote files"


def test_restore_into_another_root_keeps_the_paths_below_it(small_backup: Path,
                                                            tmp_path: Path) -> None:
    root = tmp_path / "card"
    result = cli("restore", str(small_backup), "--root", str(root))
    assert result.returncode == 0, result.stderr
    restored = root / str(tmp_path / "small/state/history.sqlite3").lstrip("/")
    db = sqlite3.connect(restored)
    assert db.execute("SELECT x FROM t").fetchall() == [(1,)]
    db.close()


def http(web: int, method: str, path: str, user: str | None = None,
         body: bytes | None = None) -> tuple[int, bytes, dict[str, str]]:
    """A request as from another machine (a non-loopback Host), with Basic auth as ``user``."""
    headers = {"Host": "gw.example"}
    if user is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    # The site has a TLS listener, so the dashboard serves HTTPS with its certificate.
    request = urllib.request.Request(f"https://127.0.0.1:{web}{path}", data=body, method=method,
                                     headers=headers)
    unverified = ssl._create_unverified_context()  # the test CA's name is not 127.0.0.1
    try:
        with urllib.request.urlopen(request, timeout=60, context=unverified) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_dashboard_backup_is_for_admins_and_an_upload_is_restored_at_next_boot(tmp_path: Path) -> None:
    home = tmp_path / "gw"
    port, tls_port, web = free_port(), free_port(), free_port()
    config = make_site(home, port, tls_port)
    running = start(config, tmp_path / "running.log", port, web)
    try:
        phone = Client(port)
        phone.publish("settings/heating", "21.5", retain=True)
        phone.subscribe("home/kitchen/temperature")
        phone.wait_for("home/kitchen/temperature")
        assert http(web, "GET", "/api/system/backup")[0] == 401
        assert http(web, "GET", "/api/system/backup", "viewer")[0] == 403
        assert http(web, "POST", "/api/system/restore", "viewer", b"x")[0] == 403
        status, body, headers = http(web, "GET", "/api/system/backup", "phone")
        assert status == 200
        assert 'attachment; filename="gateway-backup-' in headers["Content-Disposition"]
        backup = tmp_path / "download.tar.gz"
        backup.write_bytes(body)
        # The history of this run is in it: the download wrote the buffered samples first.
        peek = cli("restore", str(backup), "--root", str(tmp_path / "peek"))
        assert peek.returncode == 0, peek.stderr
        peeked = tmp_path / "peek" / str(home / "state/history.sqlite3").lstrip("/")
        assert any(row[0] == "home/kitchen/temperature" for row in history_rows(peeked))

        phone.publish("settings/heating", "16", retain=True)  # changed after the backup
        phone.close()
        status, body, _ = http(web, "POST", "/api/system/restore", "phone", body[:-300])
        assert status == 400 and "damaged" in json.loads(body)["error"]
        assert running.proc.poll() is None  # a bad upload changes nothing
        status, body, _ = http(web, "POST", "/api/system/restore", "phone", backup.read_bytes())
        assert status == 202 and json.loads(body)["restoring"] is True
    finally:
        assert running.stop() == 0
    # At the next boot, before the gateway starts (first boot does it on the appliance).
    applied = cli("restore", "--pending", str(home / "state"))
    assert applied.returncode == 0 and "restored" in applied.stdout, applied.stderr
    again = start(config, tmp_path / "again.log", port, web)
    try:
        phone = Client(port)
        phone.subscribe("settings/#")
        assert phone.wait_for("settings/heating")[1] == b"21.5"
        phone.close()
    finally:
        assert again.stop() == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as another user")
def test_backing_up_a_stopped_gateway_leaves_its_database_to_its_owner(tmp_path: Path) -> None:
    """SQLite creates -wal and -shm when it reads a WAL database: they must belong to the
    service's user, or the gateway could no longer open its history. (SQLite run as root
    gives them the database's owner itself; this guards that the backup relies on it.)"""
    state = tmp_path / "state"
    state.mkdir()
    db = sqlite3.connect(state / "history.sqlite3")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    assert not (state / "history.sqlite3-shm").exists()
    for path in (state, state / "history.sqlite3"):
        os.chown(path, NOBODY, NOBODY)
    make_backup([Part(state / "history.sqlite3", "history", sqlite=True)], tmp_path / "b.tar.gz")
    for path in state.iterdir():
        assert (path.stat().st_uid, path.stat().st_gid) == (NOBODY, NOBODY), path.name
