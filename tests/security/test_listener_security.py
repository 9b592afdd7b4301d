"""Security configured per listener, the way the gateway config sets it (no injected policy).

Covers issue 5 §2-3: several listeners at once with their own settings, safe defaults for
anonymous clients, the allow_anonymous warning, and reloading files through Broker.reload.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from broker.auth.passwords import PasswordFile
from broker.engine.policy import ClientInfo
from broker.server.listeners import ListenerConfig, listener_policy

from .harness import Client


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    users = PasswordFile()
    users.set_password("alice", "wonder", iterations=1000)
    users.save(tmp_path / "passwd")
    (tmp_path / "acl").write_text(
        "topic read public/#\nuser alice\ntopic home/#\nuser node-7\ntopic write home/node7/#\n"
    )
    return {"password_file": str(tmp_path / "passwd"), "acl_file": str(tmp_path / "acl")}


def test_several_listeners_each_with_its_own_rules(broker_thread, files, pki) -> None:
    listeners = [
        {"name": "local", "kind": "tcp"},  # loopback, no files: everything allowed
        {"name": "lan", "kind": "tcp", "allow_anonymous": False, **files},
        {"name": "web", "kind": "ws", "allow_anonymous": False, **files},
        {
            "name": "nodes", "kind": "tls", "certfile": str(pki.server_cert),
            "keyfile": str(pki.server_key), "cafile": str(pki.ca_cert),
            "require_certificate": True, "use_identity_as_username": True,
            "acl_file": files["acl_file"],
        },
    ]
    running = broker_thread(listeners=listeners)
    ports = running.ports
    assert set(ports) == {"local", "lan", "web", "nodes"}
    clients: list[Client] = []

    def client(port: int, **kw) -> Client:
        clients.append(Client(port, **kw))
        return clients[-1]

    try:
        local = client(ports["local"])
        assert local.connect() == 0
        assert local.subscribe("#") == [0]  # no ACL on this listener
        assert client(ports["lan"]).connect() != 0  # anonymous refused
        assert client(ports["web"], transport="websockets").connect() != 0
        alice = client(ports["web"], transport="websockets", username="alice", password="wonder")
        assert alice.connect() == 0
        assert alice.subscribe("public/#") == [0x80]  # alice's ACL has no public/#
        alice.publish("home/kitchen/temperature", b"20")
        assert local.expect("home/kitchen/temperature") == b"20"
        if shutil.which("mosquitto_pub"):
            cert, key = pki.client("node-7")
            common = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(ports["nodes"]),
                      "--cafile", str(pki.ca_cert), "--cert", str(cert), "--key", str(key),
                      "-q", "1", "-m", "7"]
            subprocess.run([*common, "-t", "home/node7/temp"], check=True, timeout=60)
            assert local.expect("home/node7/temp") == b"7"
            subprocess.run([*common, "-t", "home/other/temp"], check=True, timeout=60)
            local.expect_nothing()  # node-7 may not write there: dropped

        # new rules, reloaded without dropping anyone
        Path(files["acl_file"]).write_text("user alice\ntopic home/#\ntopic public/#\n")
        assert running.loop.call(running.broker.reload) is True
        assert alice.subscribe("public/#") == [0]
        assert alice.client.is_connected() and local.client.is_connected()
    finally:
        for c in clients:
            c.close()


def info(peer: str, username: str | None = None) -> ClientInfo:
    return ClientInfo("c", username, peer, "l")


def test_anonymous_only_from_loopback_by_default(files) -> None:
    lan = listener_policy(ListenerConfig("tcp", "0.0.0.0", 1883, name="lan", **files))
    assert lan.authenticate(info("127.0.0.1:5000"), None, None)
    assert lan.authenticate(info("[::1]:5000"), None, None)
    assert not lan.authenticate(info("192.0.2.5:5000"), None, None)
    assert lan.authenticate(info("192.0.2.5:5000", "alice"), "alice", b"wonder")
    # no files at all on a LAN address: still nobody anonymous from elsewhere
    bare = listener_policy(ListenerConfig("tcp", "0.0.0.0", 1883, name="bare"))
    assert not bare.authenticate(info("192.0.2.5:5000"), None, None)
    assert bare.authenticate(info("127.0.0.1:5000"), None, None)


def test_allow_anonymous_on_the_network_is_warned(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="broker"):
        policy = listener_policy(
            ListenerConfig("tcp", "0.0.0.0", 1883, name="open", allow_anonymous=True)
        )
    assert policy.authenticate(info("192.0.2.5:5000"), None, None)
    assert "accepts anonymous clients" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="broker"):
        listener_policy(ListenerConfig("tcp", "127.0.0.1", 1883, name="lo", allow_anonymous=True))
    assert "accepts anonymous" not in caplog.text  # loopback: nothing to warn about


def test_websocket_origin_allow_list(broker_thread) -> None:
    from .test_websocket import raw_upgrade, read_all

    listeners = [{"name": "web", "kind": "ws", "allowed_origins": ["http://gateway.local"]}]
    port = broker_thread(listeners=listeners).ports["web"]
    # No Origin: not a browser (MQTT.js in Node, phone apps), so nothing for the list to stop.
    cases = (("http://evil.example", b"403"), ("http://gateway.local", b"101"), (None, b"101"))
    for origin, status in cases:
        sock = raw_upgrade(port, origin=origin)
        sock.settimeout(30)
        head = sock.recv(4096) if status == b"101" else read_all(sock)
        assert head.startswith(b"HTTP/1.1 " + status), head
        sock.close()


def test_websocket_paths_root_and_mqtt_unless_the_listener_names_one(broker_thread) -> None:
    from .test_websocket import raw_upgrade, read_all, read_head

    listeners = [{"name": "any", "kind": "ws"}, {"name": "one", "kind": "ws", "path": "/mqtt"}]
    ports = broker_thread(listeners=listeners).ports
    for listener, path, status in (("any", "/", b"101"), ("any", "/mqtt", b"101"),
                                   ("one", "/mqtt", b"101"), ("one", "/", b"404")):
        sock = raw_upgrade(ports[listener], path)
        head = read_head(sock)[0] if status == b"101" else read_all(sock)
        assert head.startswith(b"HTTP/1.1 " + status), (listener, path, head)
        sock.close()
