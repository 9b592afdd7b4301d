"""A bridge over TLS with a user name and password, to Debian's mosquitto."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from security.certs import make_pki
from store.procs import Publisher, Recorder, wait_until

from .conftest import bridge_file


@pytest.mark.parametrize("password", ["s3cret", "wrong"])
def test_tls_and_password(tmp_path: Path, our_broker, mosquitto, password: str) -> None:
    if shutil.which("mosquitto_passwd") is None or shutil.which("openssl") is None:
        pytest.skip("mosquitto_passwd and openssl are needed")
    pki = make_pki(tmp_path / "pki")
    passwd = tmp_path / "passwd"
    passwd.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "gw", "s3cret"], check=True)
    up = mosquitto(
        f"cafile {pki.ca_cert}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        f"allow_anonymous false\npassword_file {passwd}\n"
    )
    cfg = bridge_file(
        tmp_path, up.port, ['sensors/# out 1 "" gw/'], protocol="mqttv311",
        bridge_cafile=str(pki.ca_cert), remote_username="gw", remote_password=password,
    )  # fmt: skip
    local = our_broker("local", "--bridge-config", str(cfg))
    watch = Recorder(local.port, "watch", clean=True).start()
    watch.subscribe("$SYS/broker/bridge/up/state", 0)
    if password != "s3cret":
        wait_until(lambda: "CONNACK code 0x05" in local.log(), what="refusal logged")
        assert b"connected" not in watch.payloads()
        watch.stop()
        return
    wait_until(lambda: b"connected" in watch.payloads(), what="bridge connected over TLS")
    watch.stop()
    # A subscriber upstream (over TLS, same credentials) sees what crossed the bridge.
    sub = _tls_recorder(up.port, pki.ca_cert)
    sub.subscribe("gw/#", 1)
    time.sleep(0.5)
    pub = Publisher(local.port, "pub", clean=True).start()
    pub.publish("sensors/kitchen/humidity", b"48", 1)
    wait_until(lambda: b"48" in sub.payloads(), what="message over the TLS bridge")
    pub.stop()
    sub.stop()


def _tls_recorder(port: int, ca: Path) -> Recorder:
    rec = Recorder(port, "tls-sub", clean=True)
    rec.client.tls_set(ca_certs=str(ca))
    rec.client.username_pw_set("gw", "s3cret")
    return rec.start()
