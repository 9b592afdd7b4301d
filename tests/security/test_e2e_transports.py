"""Our broker end to end: passwords, ACLs, TLS, client certificates, ws and wss.

Real clients: paho-mqtt (tcp, websockets, TLS), MQTT.js over ws, mosquitto_pub over TLS.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from broker.auth.passwords import PasswordFile
from broker.auth.policy import FilePolicy

from .harness import Client

ACL = """\
topic read public/#

user alice
topic home/#
topic public/#

user bob
topic read home/+/temperature
topic write cmd/bob/#

user sensor-1
topic write home/attic/+
"""


@pytest.fixture
def policy(tmp_path: Path) -> FilePolicy:
    users = PasswordFile()
    users.set_password("alice", "wonder", iterations=1000)
    users.set_password("bob", "builder", iterations=1000)
    users.save(tmp_path / "passwd")
    (tmp_path / "acl").write_text(ACL)
    return FilePolicy(
        password_file=tmp_path / "passwd",
        acl_file=tmp_path / "acl",
        allow_anonymous=True,
        use_identity_as_username=True,
    )


def server_tls(pki, **extra) -> dict:
    """TLS keys of a listener serving the test CA's server certificate."""
    return {"certfile": str(pki.server_cert), "keyfile": str(pki.server_key), **extra}


def connected(port: int, **kw) -> Client:
    client = Client(port, **kw)
    rc = client.connect()
    assert rc == 0, rc
    return client


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_paho_websockets_with_passwords(broker_thread, policy, protocol: int) -> None:
    ws = broker_thread(policy=policy).ports["ws"]
    kw = {"transport": "websockets", "protocol": protocol}
    sub = connected(ws, username="alice", password="wonder", **kw)
    pub = connected(ws, username="alice", password="wonder", **kw)
    try:
        assert sub.subscribe("home/#", qos=1) == [1]
        pub.publish("home/kitchen/temperature", b"21.5")
        assert sub.expect("home/kitchen/temperature") == b"21.5"
        # a wrong password is refused with "bad user name or password"
        intruder = Client(ws, username="alice", password="guess", **kw)
        rc = intruder.connect()
        assert rc != 0 and int(rc.value) in (4, 0x86)
        intruder.close()
    finally:
        sub.close()
        pub.close()


@pytest.mark.parametrize("version", [4, 5])
def test_mqttjs_over_websockets(broker_thread, policy, mqttjs, version: int) -> None:
    ws = broker_thread(policy=policy).ports["ws"]
    ok = mqttjs(f"ws://127.0.0.1:{ws}/mqtt", version, "home/js", "alice", "wonder")
    assert ok == {"connack": 0, "granted": [1], "topic": "home/js", "received": "hello from MQTT.js"}
    denied = mqttjs(f"ws://127.0.0.1:{ws}/mqtt", version, "home/js", "bob", "builder")
    # MQTT.js turns a refused SUBACK into an error naming the reason code
    assert denied == {
        "subscribe_error": "Subscribe error: "
        + ("Unspecified error" if version == 4 else "Not authorized")
    }
    refused = mqttjs(f"ws://127.0.0.1:{ws}/mqtt", version, "home/js", "bob", "wrong")
    assert "error" in refused


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_acl_on_subscribe_publish_and_delivery(broker_thread, policy, protocol: int) -> None:
    tcp = broker_thread(policy=policy).ports["tcp"]
    refused = 0x80 if protocol == mqtt.MQTTv311 else 0x87
    alice = connected(tcp, protocol=protocol, username="alice", password="wonder")
    bob = connected(tcp, protocol=protocol, username="bob", password="builder")
    anon = connected(tcp, protocol=protocol)
    try:
        assert bob.subscribe("home/kitchen/humidity") == [refused]
        assert bob.subscribe("cmd/#") == [refused]  # write-only grant
        assert anon.subscribe("home/#") == [refused]
        assert anon.subscribe("public/#") == [0]
        # '#' overlaps bob's grants: accepted, and delivery only passes what he may read
        assert bob.subscribe("#") == [0]
        assert alice.subscribe("cmd/#") == [refused]
        alice.publish("home/kitchen/humidity", b"40")
        alice.publish("home/kitchen/temperature", b"21")
        assert bob.expect("home/kitchen/temperature") == b"21"
        bob.expect_nothing()
        # bob may not publish on home/... : alice, subscribed to home/#, sees nothing
        assert alice.subscribe("home/#") == [0]
        bob.publish("home/kitchen/temperature", b"-99", qos=0)
        alice.expect_nothing()
        alice.publish("public/notice", b"hi")
        assert anon.expect("public/notice") == b"hi"
    finally:
        for c in (alice, bob, anon):
            c.close()


def mosquitto_pub(port: int, pki, topic: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "--cafile", str(pki.ca_cert),
         "-t", topic, "-m", "over tls", "-q", "1", *extra],
        capture_output=True, text=True, timeout=60,
    )


needs_mosquitto_pub = pytest.mark.skipif(
    shutil.which("mosquitto_pub") is None, reason="mosquitto_pub not installed"
)


@needs_mosquitto_pub
def test_tls_with_mosquitto_pub(broker_thread, policy, pki) -> None:
    running = broker_thread(policy=policy, tls=server_tls(pki))
    alice = connected(running.ports["tcp"], username="alice", password="wonder")
    try:
        assert alice.subscribe("home/#", qos=1) == [1]
        done = mosquitto_pub(running.ports["tls"], pki, "home/tls", "-u", "alice", "-P", "wonder")
        assert done.returncode == 0, done.stderr
        assert alice.expect("home/tls") == b"over tls"
        wrong = mosquitto_pub(running.ports["tls"], pki, "home/tls", "-u", "alice", "-P", "no")
        assert wrong.returncode != 0
        alice.expect_nothing()
    finally:
        alice.close()


@needs_mosquitto_pub
def test_client_certificate_cn_is_the_username(broker_thread, policy, pki) -> None:
    tls = server_tls(pki, cafile=str(pki.ca_cert), require_certificate=True,
                     use_identity_as_username=True)
    running = broker_thread(policy=policy, tls=tls)
    cert, key = pki.client("sensor-1")
    alice = connected(running.ports["tcp"], username="alice", password="wonder")
    try:
        assert alice.subscribe("home/#", qos=1) == [1]
        ok = mosquitto_pub(running.ports["tls"], pki, "home/attic/temp", "--cert", str(cert), "--key", str(key))
        assert ok.returncode == 0, ok.stderr
        assert alice.expect("home/attic/temp") == b"over tls"
        # the ACL of user sensor-1 does not cover home/kitchen/...: dropped
        mosquitto_pub(running.ports["tls"], pki, "home/kitchen/temp", "--cert", str(cert), "--key", str(key))
        alice.expect_nothing()
        # no client certificate: the TLS handshake fails
        assert mosquitto_pub(running.ports["tls"], pki, "home/attic/temp").returncode != 0
    finally:
        alice.close()


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_paho_over_wss(broker_thread, policy, pki, protocol: int) -> None:
    wss = broker_thread(policy=policy, tls=server_tls(pki)).ports["wss"]
    kw = {"transport": "websockets", "protocol": protocol, "tls": {"ca_certs": str(pki.ca_cert)}}
    sub = connected(wss, username="alice", password="wonder", **kw)
    pub = connected(wss, username="alice", password="wonder", **kw)
    try:
        assert sub.subscribe("home/+", qos=1) == [1]
        pub.publish("home/wss", b"secure")
        assert sub.expect("home/wss") == b"secure"
    finally:
        sub.close()
        pub.close()


def test_wrong_passwords_slow_down_over_the_network(broker_thread, tmp_path: Path) -> None:
    from broker.auth.backoff import LoginBackoff

    users = PasswordFile()
    users.set_password("alice", "wonder", iterations=1000)
    users.save(tmp_path / "passwd")
    backoff = LoginBackoff(free_failures=2, base_delay=600, max_delay=600)
    policy = FilePolicy(password_file=tmp_path / "passwd", backoff=backoff)
    port = broker_thread(policy=policy).ports["tcp"]

    def attempt(password: str) -> int:
        client = Client(port, username="alice", password=password)
        try:
            return int(client.connect().value)
        finally:
            client.close()

    refused = 0x86  # paho reports MQTT 3.1.1's return code 4 as 0x86 "bad user name or password"
    assert [attempt("guess") for _ in range(3)] == [refused] * 3
    assert attempt("wonder") == refused  # 127.0.0.1 must now wait: even the right one fails
    assert backoff.wait_remaining("127.0.0.1") > 500
    backoff.record_success("127.0.0.1")  # (the wait passing, without waiting 10 minutes)
    assert attempt("wonder") == 0


def test_mqttjs_over_wss(broker_thread, policy, pki, mqttjs) -> None:
    wss = broker_thread(policy=policy, tls=server_tls(pki)).ports["wss"]
    ok = mqttjs(f"wss://127.0.0.1:{wss}/mqtt", 5, "home/wss-js", "alice", "wonder", ca=pki.ca_cert)
    assert ok == {
        "connack": 0, "granted": [1], "topic": "home/wss-js", "received": "hello from MQTT.js"
    }
    # without trusting the CA, MQTT.js refuses the server's certificate
    untrusted = mqttjs(f"wss://127.0.0.1:{wss}/mqtt", 5, "home/wss-js", "alice", "wonder")
    assert "error" in untrusted
