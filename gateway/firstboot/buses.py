"""The Pi's buses a gateway config needs, switched on in the firmware's config.txt: I2C
(``dtparam=i2c_arm=on``, plus the i2c-dev module for /dev/i2c-1) when an I2C sensor is
configured, and one ``dtoverlay=w1-gpio,gpiopin=N`` per 1-Wire pin.

Debian's raspi-firmware regenerates config.txt at every kernel update from
/etc/default/raspi-firmware-custom, so the lines go there (where they last) and into the
boot partition's config.txt (so the next boot has them). Both get one marked block that
is replaced as a whole; what the user wrote around it is kept. The firmware reads
config.txt only at power-on: when the block changed on a running Pi, it reboots once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from gateway.config import parse_config
from gateway.firstboot.system import Host, write_if_changed

log = logging.getLogger("gateway.firstboot")

FIRMWARE_CUSTOM = "etc/default/raspi-firmware-custom"
MODULES = "etc/modules-load.d/sensor-gateway.conf"
CONFIG_TXT = "config.txt"
BEGIN = "# BEGIN sensor-gateway: buses gateway.toml uses (rewritten at every boot)"
END = "# END sensor-gateway"

#: I2C bus number -> the config.txt line that enables it
I2C_PARAMS = {0: "dtparam=i2c_vc=on", 1: "dtparam=i2c_arm=on"}


def bus_lines(gateway_doc: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(config.txt lines, kernel modules) for the sensors of a valid gateway document."""
    # Only the sensors: the rest was validated already, and may name files (the broker's
    # password file) that exist only on the running system.
    config = parse_config(tomli_w.dumps({"room": gateway_doc.get("room", {})}))
    i2c: set[int] = set()
    w1_pins: set[int] = set()
    for sensor in config.sensors:
        if sensor.driver == "ds18b20" and sensor.pin is not None:
            w1_pins.add(sensor.pin)
        elif isinstance(sensor.options.get("bus"), int) and "address" in sensor.options:
            i2c.add(sensor.options["bus"])
    lines = [I2C_PARAMS[bus] for bus in sorted(i2c) if bus in I2C_PARAMS]
    lines += [f"dtoverlay=w1-gpio,gpiopin={pin}" for pin in sorted(w1_pins)]
    return lines, (["i2c-dev"] if i2c else [])


def with_block(text: str, lines: list[str]) -> str:
    """``text`` with our marked block replaced by ``lines`` (removed when there are none)."""
    kept: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.strip() == BEGIN:
            inside = True
        elif inside and line.strip() == END:
            inside = False
        elif not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    if lines:
        # [all] first: the user's file may end inside a [pi4]-style conditional section.
        kept += ([""] if kept else []) + [BEGIN, "[all]", *lines, END]
    return "\n".join(kept) + "\n" if kept else ""


def apply_buses(boot: Path, host: Host, gateway_doc: Mapping[str, Any]) -> bool:
    """Write the block to config.txt and the raspi-firmware source; True when the firmware
    settings changed (the live system is then rebooted to load them)."""
    lines, modules = bus_lines(gateway_doc)
    changed = False
    for path, mode in ((host.path(FIRMWARE_CUSTOM), 0o644), (boot / CONFIG_TXT, None)):
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = ""
        if BEGIN not in current and not lines:
            continue   # nothing of ours to add or remove: leave the file as it is
        changed |= write_if_changed(path, with_block(current, lines), mode=mode)
    module_file = host.path(MODULES)
    if modules:
        write_if_changed(module_file, "".join(f"{m}\n" for m in modules))
    elif module_file.exists():
        module_file.unlink()
    if changed:
        log.info("firmware settings for the sensors' buses: %s", ", ".join(lines) or "none")
        if host.live:
            log.info("rebooting once so the firmware loads them")
            host.run(["systemctl", "--no-block", "reboot"], check=False)
    return changed
