"""Bridge settings: Mosquitto's topic line syntax, errors that name the key, backoff."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from broker.bridge.config import BridgeConfigError, TopicRule, load_bridges, parse_topic
from broker.bridge.link import backoff_delay


def test_topic_line_forms() -> None:
    assert parse_topic("home/#") == TopicRule("home/#", "out", 0)
    assert parse_topic("home/# in 2") == TopicRule("home/#", "in", 2)
    rule = parse_topic('# both 1 "" site1/')
    assert rule == TopicRule("#", "both", 1, "", "site1/")
    assert rule.remote_filter == "site1/#"
    assert rule.to_remote("home/x") == "site1/home/x"
    assert rule.to_local("site1/home/x") == "home/x"


@pytest.mark.parametrize(
    "line", ["", "a/# sideways", "a/# in 3", "a/# in 1 only-one-prefix", "a/#/b out"]
)
def test_bad_topic_lines(line: str) -> None:
    with pytest.raises(ValueError):
        parse_topic(line)


def test_load_file(tmp_path: Path) -> None:
    f = tmp_path / "bridges.toml"
    f.write_text(
        """
[[bridge]]
name = "cloud"
address = "mqtt.example.com:8883"
protocol = "mqttv50"
remote_username = "gw"
remote_password = "pw"
bridge_cafile = "/etc/ssl/certs/ca-certificates.crt"
topic = ["home/# out 1", "cmd/# in 1 home/ site/"]
restart_timeout = [2, 120]
"""
    )
    (b,) = load_bridges(f)
    assert (b.host, b.port, b.protocol, b.tls) == ("mqtt.example.com", 8883, 5, True)
    assert (b.username, b.password, b.backoff_min, b.backoff_max) == ("gw", "pw", 2.0, 120.0)
    assert [r.direction for r in b.topics] == ["out", "in"]
    assert b.remote_client_id == "bridge-cloud"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('name = "x"\naddress = "h:1"\ntopic = "a/# nowhere"', "topic"),
        ('name = "x"\naddress = "h:1"\ntopic = "a"\nkeepalive_interval = "60"', "keepalive_interval"),
        ('name = "x"\naddress = "h:1"\ntopic = "a"\nprotocol = "mqttv4"', "protocol"),
        ('name = "x"\naddress = "h:1"\ntopic = "a"\nremote_pasword = "typo"', "remote_pasword"),
        ('name = "x"\naddress = "h:1"', "topic"),
    ],
)
def test_errors_name_file_bridge_and_key(tmp_path: Path, body: str, key: str) -> None:
    f = tmp_path / "bridges.toml"
    f.write_text("[[bridge]]\n" + body + "\n")
    with pytest.raises(BridgeConfigError) as err:
        load_bridges(f)
    text = str(err.value)
    assert str(f) in text and "'x'" in text and key in text


def test_backoff_grows_with_jitter_and_cap() -> None:
    rng = random.Random(0)
    for attempt in range(12):
        d = min(60.0, 1.0 * 2**attempt)
        samples = [backoff_delay(attempt, 1.0, 60.0, rng) for _ in range(50)]
        assert all(d / 2 <= s <= d for s in samples)
        assert len(set(samples)) > 1  # jittered
