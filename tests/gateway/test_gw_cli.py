"""The click CLI: every option documented, pub and sub against a real broker, URLs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from gw_helpers import ROOT, TIMEOUT, Recorder, gateway_command, publish_once
from support.ports import free_port
from support.processes import Mosquitto

from gateway.cli import main
from gateway.mqtt_url import BrokerURL, parse_broker_url


def test_every_command_and_option_is_documented() -> None:
    ctx = click.Context(main)
    names = set(main.list_commands(ctx))
    assert {"run", "check", "sub", "pub", "broker"} <= names
    for name in names:
        command = main.get_command(ctx, name)
        assert command is not None and command.help, f"{name} has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help"
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, result.output


def test_run_help_lists_the_overrides() -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    for option in ("--config", "--broker", "--port", "--host", "--data-dir", "--hardware"):
        assert option in result.output


def test_pub_then_sub_a_retained_message(mosquitto: Mosquitto) -> None:
    url = f"mqtt://127.0.0.1:{mosquitto.port}"
    runner = CliRunner()
    with Recorder(mosquitto.port, "home/#") as rec:
        result = runner.invoke(main, ["pub", "home/hall/light/set", "ON", "--broker", url])
        assert result.exit_code == 0, result.output
        rec.wait_for("home/hall/light/set", "ON", retained=False)
        result = runner.invoke(main, ["pub", "home/kitchen/temperature", "21.4", "--retain",
                                      "--broker", url])
        assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["sub", "home/#", "--broker", url, "--count", "1",
                                  "--timeout", "20", "-r"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "home/kitchen/temperature 21.4 (retained)"


def test_pub_to_a_closed_port_fails_cleanly() -> None:
    result = CliRunner().invoke(main, ["pub", "a/b", "1", "--broker",
                                       f"mqtt://127.0.0.1:{free_port()}"])
    assert result.exit_code == 1
    assert "cannot connect" in result.output


def test_sub_reports_a_refused_connection(tmp_path: Path) -> None:
    server = Mosquitto(tmp_path, "allow_anonymous false\n")
    server.start()
    try:
        result = CliRunner().invoke(main, ["sub", "#", "--broker",
                                           f"mqtt://127.0.0.1:{server.port}", "-W", "20"])
    finally:
        server.stop()
    assert result.exit_code == 1
    assert "refused the connection" in result.output


def test_run_rejects_a_bad_config_before_starting(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[room.a]]\ndriver = "relay"\n')
    result = CliRunner().invoke(main, ["run", "--config", str(path)])
    assert result.exit_code == 1
    assert "missing key 'pin'" in result.output


@pytest.mark.parametrize(("text", "expected"), [
    ("mqtt://broker.lan", BrokerURL("broker.lan", 1883)),
    ("broker.lan:1884", BrokerURL("broker.lan", 1884)),
    ("mqtts://u:p%40ss@host", BrokerURL("host", 8883, tls=True, username="u",
                                         password="p@ss")),
])
def test_broker_urls(text: str, expected: BrokerURL) -> None:
    assert parse_broker_url(text) == expected


@pytest.mark.parametrize("text", ["http://host", "mqtt://", "mqtt://host:99999",
                                  "mqtt://host/path"])
def test_bad_broker_urls(text: str) -> None:
    with pytest.raises(ValueError):
        parse_broker_url(text)


def test_sub_into_head_ends_quietly(mosquitto: Mosquitto) -> None:
    """`gateway sub 'home/#' | head -1`: the reader leaves after one line; sub stops without
    a BrokenPipeError traceback (more than a pipe buffer of retained values follows)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    infos = [client.publish(f"home/room{i}/value", "x" * 4096, qos=1, retain=True)
             for i in range(50)]
    for info in infos:
        info.wait_for_publish(TIMEOUT)
    client.disconnect()
    client.loop_stop()
    command = " ".join([*gateway_command(), "sub", "'home/#'", "--broker",
                        f"mqtt://127.0.0.1:{mosquitto.port}", "--timeout", "20"])
    done = subprocess.run(["bash", "-o", "pipefail", "-c", f"{command} | head -1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT * 2)
    assert done.stdout.startswith("home/room")
    assert done.stderr == ""
    assert done.returncode == 0



@pytest.fixture
def reads_nothing(tmp_path: Path) -> Iterator[str]:
    """The URL of a broker whose ACL lets an anonymous client connect but read nothing."""
    from support.threadbroker import ThreadBroker

    from broker.server.listeners import ListenerConfig

    acl = tmp_path / "acl"
    acl.write_text("user someone\ntopic read home/#\n")
    server = ThreadBroker(listeners=[ListenerConfig("tcp", "127.0.0.1", 0, acl_file=str(acl))])
    server.start()
    try:
        yield f"mqtt://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_sub_reports_a_subscription_the_acl_refuses(reads_nothing: str) -> None:
    # Anonymous clients on loopback may connect but read nothing: before, sub waited in
    # silence. (Our broker refuses such a SUBSCRIBE; Mosquitto accepts it under 3.1.1 and
    # drops at delivery, where no client can tell.)
    result = CliRunner().invoke(main, ["sub", "home/#", "--broker", reads_nothing, "-W", "20"])
    assert result.exit_code == 1, result.output
    assert "refused the subscription to 'home/#'" in result.output
    assert "--broker mqtt://USER:PASSWORD@HOST" in result.output


def test_sub_count_prints_exactly_that_many(mosquitto: Mosquitto) -> None:
    # Retained messages arrive together: those after the count went on being printed.
    url = f"mqtt://127.0.0.1:{mosquitto.port}"
    runner = CliRunner()
    for room in range(50):
        publish_once(mosquitto.port, f"home/room{room}/temperature", "20.0", retain=True)
    result = runner.invoke(main, ["sub", "home/#", "--broker", url, "-n", "2", "-W", "20"])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 2, result.output


@pytest.mark.parametrize("command", [["node", "list"], ["node", "update", "attic_node"]])
def test_node_commands_report_a_subscription_the_acl_refuses(
        reads_nothing: str, command: list[str]) -> None:
    # On a Pi with an ACL file the anonymous loopback client reads nothing: node list printed
    # nothing and node update said the node had never announced itself.
    result = CliRunner().invoke(main, [*command, "--broker", reads_nothing])
    assert result.exit_code == 1, result.output
    assert "refused the subscription to 'home/+/" in result.output
    assert "--broker mqtt://USER:PASSWORD@HOST" in result.output


def test_check_points_a_boot_partition_file_to_its_own_check() -> None:
    image_file = ROOT / "deploy" / "image" / "gateway.toml"
    result = CliRunner().invoke(main, ["check", str(image_file)])
    assert result.exit_code == 1
    assert "it is the SD card's boot-partition file" in result.output
    assert f"-m gateway.firstboot --check {image_file}" in result.output
