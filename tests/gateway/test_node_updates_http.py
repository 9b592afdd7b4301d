"""The HTTP image server nodes update from (`[nodes] firmware_port`), asked from the LAN
exactly as the ESP8266 core's ESP8266httpUpdate asks (HTTP/1.0, its x-ESP8266-* headers),
and attacked with paths outside the store."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.lan import Lan
from support.node_images import md5_hex
from support.update_rig import UpdateRig, update_rig
from support.wait import wait_until


@pytest.fixture
def rig(lan: Lan, tmp_path: Path) -> Iterator[UpdateRig]:
    with update_rig(lan, tmp_path, versions=("0.3.0", "0.4.0")) as running:
        (running.data_dir / "nodes.json").write_text('{"nodes": []}')
        yield running


def request(rig: UpdateRig, head: str) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` (request line and headers) from the LAN; status, headers, body."""

    def exchange() -> bytes:
        with socket.create_connection((rig.host, rig.http_port), timeout=30) as conn:
            conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    raw = rig.lan.call(exchange)
    header_block, _, body = raw.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def esp_get(path: str, **extra: str) -> str:
    """The request ESP8266httpUpdate::handleUpdate sends (ESP8266httpUpdate.cpp)."""
    headers = {
        "User-Agent": "ESP8266-http-Update",
        "x-ESP8266-Chip-ID": "10537201",
        "x-ESP8266-STA-MAC": "5C:CF:7F:A0:C8:F1",
        "x-ESP8266-AP-MAC": "5E:CF:7F:A0:C8:F1",
        "x-ESP8266-free-space": "2859008",
        "x-ESP8266-sketch-size": "331264",
        "x-ESP8266-sketch-md5": "0123456789abcdef0123456789abcdef",
        "x-ESP8266-chip-size": "4194304",
        "x-ESP8266-sdk-version": "2.2.2-dev(38a443e)",
        "x-ESP8266-mode": "sketch",
        "x-ESP8266-version": "0.3.0",
        **extra,
    }
    lines = [f"GET {path} HTTP/1.0", "Host: gateway", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\n".join(lines) + "\n"


def test_the_node_gets_the_image_with_length_and_md5(rig: UpdateRig) -> None:
    data = (rig.firmware_dir / "node-0.4.0.bin").read_bytes()
    status, headers, body = request(rig, esp_get("/firmware/node-0.4.0.bin"))
    assert status == 200
    assert int(headers["content-length"]) == len(data) == len(body)
    assert headers["x-md5"] == hashlib.md5(body).hexdigest() == md5_hex(data)
    assert body == data
    status, _, body = request(rig, esp_get("/firmware/node-0.3.0.bin"))
    assert status == 200 and body == (rig.firmware_dir / "node-0.3.0.bin").read_bytes()


def test_not_modified_when_the_node_runs_that_image(rig: UpdateRig) -> None:
    md5 = md5_hex((rig.firmware_dir / "node-0.4.0.bin").read_bytes())
    status, _, body = request(rig, esp_get("/firmware/node-0.4.0.bin",
                                           **{"x-ESP8266-sketch-md5": md5}))
    assert status == 304 and body == b""


def test_version_query_answers_without_the_image(rig: UpdateRig) -> None:
    md5 = md5_hex((rig.firmware_dir / "node-0.4.0.bin").read_bytes())
    status, headers, body = request(rig, esp_get("/firmware/node-0.4.0.bin",
                                                 **{"x-ESP8266-mode": "version"}))
    assert status == 200 and body == b""
    assert headers["x-version"] == "0.4.0" and headers["x-md5"] == md5


@pytest.mark.parametrize("path", [
    "/firmware/node-9.9.9.bin",
    "/firmware/",
    "/firmware",
    "/",
    "/firmware/nodes.json",
    "/firmware/../nodes.json",
    "/firmware/..%2fnodes.json",
    "/firmware/%2e%2e/nodes.json",
    "/firmware/node-0.4.0.bin/../../nodes.json",
    "/firmware/node-..%2f..%2fnodes.json",
    "/firmware/node-0.4.0.bin%00.json",
    "/firmware//etc/passwd",
    "/etc/passwd",
    "/firmware/node-0.4.0.bin/..%2f..%2f..%2fetc%2fpasswd",
])
def test_nothing_outside_the_store(rig: UpdateRig, path: str) -> None:
    status, _, body = request(rig, esp_get(path))
    assert status in (400, 404), (path, status)
    assert b"nodes" not in body and b"root:" not in body


def test_read_only(rig: UpdateRig) -> None:
    for method in ("POST", "PUT", "DELETE"):
        status, _, _ = request(rig, f"{method} /firmware/node-0.4.0.bin HTTP/1.0\n"
                                    "Content-Length: 4\n\nE9E9")
        assert status == 405, method
    assert (rig.firmware_dir / "node-0.4.0.bin").read_bytes()[:1] == b"\xe9"


def test_a_taken_port_is_logged_and_the_gateway_runs_on(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from gpiozero.pins.mock import MockFactory
    from gw_helpers import RunningGateway
    from support.pahoclient import PahoClient

    from gateway.hardware import Hardware

    with socket.create_server(("127.0.0.1", 0)) as squatter:
        port = squatter.getsockname()[1]
        config = f'[serial]\nenabled = false\n[nodes]\nfirmware_port = {port}\n'
        hardware = Hardware(simulated=True, pin_factory=MockFactory())
        with caplog.at_level("ERROR"), RunningGateway(config, tmp_path, hardware) as gateway:
            client = PahoClient(gateway.port)
            client.connect()
            client.subscribe("home/+/status")
            assert client.get().payload == b"online"      # the broker and the bus run
            client.disconnect()
    assert f"cannot serve node firmware on port {port}" in caplog.text


def test_idle_connections_are_bounded_and_end_at_their_deadline(
        lan: Lan, other_lan: Lan, tmp_path: Path) -> None:
    """A slowloris on the image server must not use up the descriptors the broker in the
    same process needs: 4 connections per address, 6 in all (here), each 120 s at most."""
    import asyncio
    import threading

    from support.clock import TimerClock
    from support.node_images import write_image

    from gateway.node_firmware import FirmwareStore
    from gateway.runtime.firmware_server import FirmwareServer

    data = write_image(tmp_path / "fw", "0.4.0")
    clock = TimerClock()
    server = FirmwareServer(FirmwareStore(tmp_path / "fw", []), 0, lan.host_ip,
                            max_connections=6, max_per_address=4, call_later=clock.call_later)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def on_loop(fn):  # noqa: ANN001, ANN202 - runs fn on the server's loop, returns its result
        async def call():  # noqa: ANN202
            return await fn() if asyncio.iscoroutinefunction(fn) else fn()
        return asyncio.run_coroutine_threadsafe(call(), loop).result(30)

    def closed_by_server(conn: socket.socket) -> bool:
        conn.settimeout(10)
        try:
            return conn.recv(1) == b""
        except ConnectionResetError:
            return True

    on_loop(server.start)
    try:
        connect = lambda: socket.create_connection((lan.host_ip, server.port))  # noqa: E731
        idle = [lan.call(connect) for _ in range(4)]
        wait_until(lambda: on_loop(lambda: server.connections) == 4, what="4 connections")
        assert closed_by_server(lan.call(connect))              # a 5th from that address
        neighbour = [other_lan.call(connect) for _ in range(2)]
        wait_until(lambda: on_loop(lambda: server.connections) == 6, what="6 connections")
        assert closed_by_server(other_lan.call(connect))        # over the total
        on_loop(lambda: clock.advance(121))
        assert all(closed_by_server(conn) for conn in idle + neighbour)
        wait_until(lambda: on_loop(lambda: server.connections) == 0, what="all closed")
        host = f"{lan.host_ip}:{server.port}"

        def download() -> bytes:
            import urllib.request
            with urllib.request.urlopen(f"http://{host}/firmware/node-0.4.0.bin",
                                        timeout=30) as response:
                return response.read()

        assert lan.call(download) == data                       # served again
        for conn in idle + neighbour:
            conn.close()
    finally:
        on_loop(server.stop)
        loop.call_soon_threadsafe(loop.stop)
