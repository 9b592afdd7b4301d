"""`python -m broker`: --help documents every setting, and the options take effect."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable

from support.processes import ROOT, OurBroker
from support.rawmqtt import RawClient

from broker import BrokerConfig

Raw = Callable[..., RawClient]

# Settings that are objects or lists of tables, set from Python or the gateway's TOML only.
NOT_ON_THE_COMMAND_LINE = {"policy", "listeners", "uvloop"}


def test_help_documents_every_setting() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "broker", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    for f in dataclasses.fields(BrokerConfig):
        if f.name in NOT_ON_THE_COMMAND_LINE:
            continue
        option = "--" + f.name.replace("_", "-")
        assert option in out.stdout, option
    assert "--no-uvloop" in out.stdout


def test_options_take_effect(make_broker_process, raw: Raw) -> None:
    b: OurBroker = make_broker_process(
        "--max-keepalive",
        "7",
        "--receive-maximum",
        "9",
        "--topic-alias-maximum",
        "3",
        "--max-packet-size",
        "5000",
        "--max-session-expiry",
        "11",
    )
    c = raw(5, port=b.port)
    props = c.connect(keepalive=60, properties={"session_expiry_interval": 99}).properties
    assert props["server_keep_alive"] == 7
    assert props["receive_maximum"] == 9
    assert props["topic_alias_maximum"] == 3
    assert props["maximum_packet_size"] == 5000
    assert props["session_expiry_interval"] == 11


def test_port_in_use_is_reported(make_broker_process) -> None:
    b: OurBroker = make_broker_process()
    out = subprocess.run(
        [sys.executable, "-m", "broker", "--host", "127.0.0.1", "--port", str(b.port)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode != 0
    assert str(b.port) in out.stderr


def test_bad_setting_found_at_start_is_one_clear_line(tmp_path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "broker",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
            "--persistence",
            "bogus",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "Error: persistence must be one of" in proc.stderr
    assert "Traceback" not in proc.stderr
