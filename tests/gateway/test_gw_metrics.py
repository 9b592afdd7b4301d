"""`gateway run`'s /metrics on the dashboard port: the broker's figures plus each sensor's
reads and failures and each serial port's counters, parsed by prometheus-client's parser;
free from loopback, behind the dashboard's login from the network."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gpiozero.pins.mock import MockFactory
from gw_helpers import ScriptedDht, free_port
from support.lan import Lan
from support.metrics import fetch, parse, scrape, value
from support.ptycable import PtyCable

from gateway.config import parse_config
from gateway.hardware import Hardware
from gateway.serial.framing import FrameType, encode_frame
from gateway.serve import RunOptions, run

USER, PASSWORD = "prometheus", "scrape me"
SENSOR = "room.office[0]"  # the key the logs use for the sensor


def write_users(path: Path) -> Path:
    from broker.auth.passwords import PasswordFile

    users = PasswordFile()
    users.set_password(USER, PASSWORD, iterations=1000)
    users.save(path)
    return path


def test_dashboard_metrics_cover_sensors_serial_and_broker(tmp_path: Path, lan: Lan) -> None:
    cable = PtyCable(tmp_path / "ttyNODE")
    port, dash = free_port(), free_port()
    users = write_users(tmp_path / "passwd")
    config = parse_config(
        f'[gateway]\nhardware = "simulated"\n'
        f'[[broker.listeners]]\nkind = "tcp"\nhost = "127.0.0.1"\nport = {port}\n'
        f'password_file = "{users}"\n'
        f'[serial]\nports = ["{cable.path}"]\nautodetect = false\n'
        '[[room.office]]\ndriver = "dht22"\npin = 4\ninterval = 2\nretries = 2\n'
        'retry_delay = 0\n',
        str(tmp_path / "gateway.toml"))
    # The first read fails as a DHT's checksum error does; the retry succeeds.
    dht = ScriptedDht([RuntimeError("checksum did not validate"), (21.5, 40.0)])
    hardware = Hardware(simulated=True, pin_factory=MockFactory(),
                        dht_factory=lambda kind, pin: dht)
    local = f"http://127.0.0.1:{dash}/metrics"
    remote = f"http://{lan.host_ip}:{dash}/metrics"

    async def scenario() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        options = RunOptions(data_dir=str(tmp_path / "state"), dashboard_port=dash,
                             dashboard_host="0.0.0.0")
        task = asyncio.create_task(run(config, options, stop, hardware, on_ready=ready.set))
        try:
            await asyncio.wait_for(ready.wait(), 60)
            good = encode_frame(FrameType.DATA, b"hello")
            await cable.write(good.replace(b"hello", b"jello"))  # CRC no longer matches
            deadline = asyncio.get_running_loop().time() + 60
            while True:  # until the retry has happened and the bad frame was read
                samples = await asyncio.to_thread(scrape, local)
                key = ("gateway_serial_bad_crc_total", (("port", str(cable.path)),))
                if samples.get(("gateway_sensor_reads_total", (("sensor", SENSOR),)), 0) >= 2 \
                        and samples.get(key, 0) >= 1:
                    break
                assert asyncio.get_running_loop().time() < deadline, {k: v for k, v in samples.items() if k[0].startswith("gateway")}
                await asyncio.sleep(0.2)
            assert value(samples, "gateway_sensor_read_failures_total", sensor=SENSOR) == 1
            assert value(samples, "gateway_sensor_failed_intervals", sensor=SENSOR) == 0
            assert value(samples, "gateway_serial_port_opens_total", port=str(cable.path)) == 1
            assert value(samples, "gateway_serial_frames_in_total", port=str(cable.path)) == 0
            assert value(samples, "gateway_serial_node_resets_total", port=str(cable.path)) == 0
            assert value(samples, "broker_clients_connected", listener=f"tcp:{port}") == 0
            assert value(samples, "broker_retained_messages") > 0  # readings, discovery

            # From the house network: the dashboard's login, as Basic auth for Prometheus.
            status, _ = await asyncio.to_thread(lan.call, fetch, remote)
            assert status == 401
            status, _ = await asyncio.to_thread(lan.call, fetch, remote, ("x", "wrong"))
            assert status == 401
            status, body = await asyncio.to_thread(lan.call, fetch, remote, (USER, PASSWORD))
            assert status == 200
            assert value(parse(body), "gateway_sensor_reads_total", sensor=SENSOR) >= 2
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    try:
        asyncio.run(asyncio.wait_for(scenario(), 180))
    finally:
        cable.close()
