"""``gateway node setup PORT``: sends a node its settings over the USB cable.

The settings travel as one SETTINGS frame of the serial link (gateway/serial/framing.py),
so they share the link's COBS framing and CRC with the MQTT traffic: the node finds the
frame among its own boot messages and debug output, a damaged frame is dropped rather than
half-applied, and there is one frame decoder on the node. (Improv serial would have been a
second packet format on the same UART, and carries only WiFi credentials; the name, room
and pins would have needed vendor extensions anyway.) The node checks the settings against
its rules (firmware/lib/gwlink/src/settings.h), stores them and answers with a
SETTINGS_REPLY frame: ``ok <firmware> <accepted>`` then restarts into them, or
``error <firmware> <why>`` and keeps what it had.
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass

import click
import serial

from gateway.serial.framing import FrameDecoder, FrameType, encode_frame

#: the node's settings text limit (gwlink::kMaxSettingsText)
MAX_SETTINGS = 768
#: a node that was just plugged in is still booting: send again this often until it answers
RESEND_INTERVAL = 2.0


class SetupError(Exception):
    """The settings could not be sent, or the node refused them (the message says why)."""


@dataclass(frozen=True)
class SetupReply:
    """What the node answered."""

    accepted: bool
    firmware: str
    detail: str  # the accepted settings, or why they were refused


def settings_text(values: dict[str, str | None], pins: tuple[str, ...]) -> str:
    """The node's settings text: ``key=value`` lines, pins given as ``GPIO=kind[:name[:flags]]``."""
    lines = [f"{key}={value}" for key, value in values.items() if value is not None]
    for pin in pins:
        gpio, sep, spec = pin.partition("=")
        if not sep or not gpio.strip().isdigit() or not spec:
            raise SetupError(f"--pin {pin!r}: expected GPIO=kind[:name[:flags]], e.g. "
                             f"14=dht22, 12=contact:door or 5=relay:fan:low{_meant(pin)}")
        lines.append(f"pin={gpio.strip()}:{spec}")
    for line in lines:
        if "\n" in line or "\r" in line or "\0" in line:
            raise SetupError(f"{line.split('=', 1)[0]}: a value cannot hold a line break")
    text = "".join(line + "\n" for line in lines)
    if len(text.encode()) > MAX_SETTINGS:
        raise SetupError(f"the settings are {len(text.encode())} bytes; a node takes "
                         f"{MAX_SETTINGS}")
    return text


def _meant(pin: str) -> str:
    """A pin written as on the phone's set-up page (``14:dht22``): the cable's form of it."""
    gpio, sep, spec = pin.partition(":")
    if sep and gpio.strip().isdigit() and spec and "=" not in pin:
        return f" (did you mean {gpio.strip()}={spec}?)"
    return ""


def parse_reply(body: bytes) -> SetupReply:
    verdict, _, rest = body.decode("utf-8", "replace").partition(" ")
    firmware, _, detail = rest.partition(" ")
    return SetupReply(verdict == "ok", firmware, detail)


#: why a port that exists does not open: the gateway's serial bridge holds it exclusively
BUSY_HINT = ("is `gateway run` bridging this port? stop it first "
             "(sudo systemctl stop sensor-gateway) or remove the port from [serial]")


def open_error(port: str, exc: Exception) -> str:
    """Why ``port`` did not open, with the hint that fits the cause: a port that is not
    there is a node not plugged in (or a charge-only cable), not a port the bridge holds."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return (f"cannot open {port}: no such serial port (is the node plugged in, with a data "
                "cable? `ls /dev/serial/by-id/` lists the ports)")
    if code == errno.EACCES:
        return (f"cannot open {port}: permission denied (run it as root, or join the "
                "`dialout` group)")
    return f"cannot open {port}: {exc} ({BUSY_HINT})"


def send_settings(port: str, text: str, baudrate: int = 115200,
                  timeout: float = 15.0) -> SetupReply:
    """Sends ``text`` to the node on ``port`` and returns its answer."""
    ser = serial.Serial()
    ser.port = port
    ser.baudrate = baudrate
    ser.timeout = 0.1
    ser.dtr = False  # on NodeMCU-style boards DTR/RTS drive reset and boot mode
    ser.rts = False
    ser.exclusive = True
    try:
        ser.open()
    except (OSError, serial.SerialException) as exc:
        raise SetupError(open_error(port, exc)) from exc
    try:
        frame = encode_frame(FrameType.SETTINGS, text.encode())
        decoder = FrameDecoder(MAX_SETTINGS + 64)
        deadline = time.monotonic() + timeout
        sent_at = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() - sent_at >= RESEND_INTERVAL:
                ser.write(frame)
                ser.flush()
                sent_at = time.monotonic()
            for event in decoder.feed(ser.read(4096)):
                if getattr(event, "type", None) == FrameType.SETTINGS_REPLY:
                    return parse_reply(event.body)
    finally:
        ser.close()
    raise SetupError(f"no answer from a node on {port} within {timeout:g} s: is it plugged in, "
                     f"running the gateway's firmware, at {baudrate} baud?")


def setup_command() -> click.Command:
    """The ``node setup`` command."""

    @click.command("setup")
    @click.argument("port")
    @click.option("--name", required=True, help="Node name: a-z, 0-9, _ (at most 32).")
    @click.option("--room", required=True, help="Room: a-z, 0-9, _ (at most 32).")
    @click.option("--wifi-ssid", help="WiFi network (not needed on a serial-cable node).")
    @click.option("--wifi-password", envvar="NODE_WIFI_PASSWORD",
                  help="WiFi password (or the NODE_WIFI_PASSWORD environment variable).")
    @click.option("--gateway", "gateway_host", default="gateway.local", show_default=True,
                  help="The gateway as HOST[:PORT]: mDNS name, DNS name or IPv4 address.")
    @click.option("--mqtt-user", help="MQTT user, if the broker requires one.")
    @click.option("--mqtt-password", envvar="NODE_MQTT_PASSWORD",
                  help="MQTT password (or the NODE_MQTT_PASSWORD environment variable).")
    @click.option("--pin", "pins", multiple=True, metavar="GPIO=KIND[:NAME[:FLAGS]]",
                  help="What is wired to a pin (repeatable): 14=dht22, 12=contact:door, "
                       "13=button:bell, 13=motion:hall, 5=relay:fan:low, 4=led:lamp:restore.")
    @click.option("--interval", type=int, help="Seconds between DHT readings (default 30).")
    @click.option("--sleep", type=int, help="Deep-sleep seconds between wake-ups (battery).")
    @click.option("--baud", default=115200, show_default=True, help="The node's baud rate.")
    @click.option("--timeout", default=15.0, show_default=True, help="Seconds to wait.")
    def setup(port: str, name: str, room: str, wifi_ssid: str | None,
              wifi_password: str | None, gateway_host: str, mqtt_user: str | None,
              mqtt_password: str | None, pins: tuple[str, ...], interval: int | None,
              sleep: int | None, baud: int, timeout: float) -> None:
        """Send a node on serial PORT (e.g. /dev/ttyUSB0) its settings.

        The node checks them, stores them and restarts into them; bad settings are refused
        with the reason and the node keeps what it had."""
        values = {"name": name, "room": room, "wifi_ssid": wifi_ssid,
                  "wifi_password": wifi_password, "gateway": gateway_host,
                  "mqtt_user": mqtt_user, "mqtt_password": mqtt_password,
                  "interval": None if interval is None else str(interval),
                  "sleep": None if sleep is None else str(sleep)}
        try:
            reply = send_settings(port, settings_text(values, pins), baud, timeout)
        except SetupError as exc:
            raise click.ClickException(str(exc)) from exc
        if not reply.accepted:
            raise click.ClickException(
                f"node (firmware {reply.firmware}) refused the settings: {reply.detail}; "
                "it keeps its previous settings")
        click.echo(f"node firmware {reply.firmware} accepted: {reply.detail}")
        click.echo("the node restarts with these settings")

    return setup
