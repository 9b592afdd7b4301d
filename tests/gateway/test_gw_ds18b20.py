"""DS18B20 probes through the kernel's sysfs format: several probes on one pin by ROM id,
and the failures a 1-Wire bus shows (CRC errors, the 85.0 power-on value, a shorted line,
an unplugged probe), through the same poll loop as on a Pi."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gw_rig import config_errors, start

from gateway.drivers.ds18b20 import parse_slave
from gateway.drivers.ds18b20_sim import ProbeFault, SimulatedProbe, SimulatedW1, crc8
from gateway.drivers.w1_sysfs import W1Sysfs
from gateway.hardware import Hardware

FRIDGE, FREEZER = "28-0316a2795eff", "28-0316a27a1bff"

CONFIG = f'''
[[room.kitchen]]
driver = "ds18b20"
name = "fridge"
pin = 4
rom = "{FRIDGE}"
max_failures = 1
retries = 1
[[room.kitchen]]
driver = "ds18b20"
name = "freezer"
pin = 4
rom = "{FREEZER}"
'''


def wired(tmp_path: Path) -> tuple[Hardware, SimulatedProbe, SimulatedProbe]:
    w1 = SimulatedW1(tmp_path / "w1")
    fridge = w1.attach(FRIDGE, SimulatedProbe(lambda: 4.5))
    freezer = w1.attach(FREEZER, SimulatedProbe(lambda: -18.25))
    return Hardware(simulated=True, w1=w1), fridge, freezer


def test_the_simulated_crc_is_the_probes_own() -> None:
    # A scratchpad from a real DS18B20 (the kernel's w1_slave on a Pi) and its CRC byte.
    assert crc8(bytes.fromhex("72014b467fff0e10")) == 0x57
    real = ("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n"
            "72 01 4b 46 7f ff 0e 10 57 t=23125\n")
    assert parse_slave(real) == 23.125


def test_two_probes_on_one_pin_are_read_by_rom_id(tmp_path: Path) -> None:
    async def scenario() -> None:
        hardware, _, _ = wired(tmp_path)
        rig = await start(CONFIG, tmp_path, hardware)
        assert await rig.runner("room.kitchen[0]").poll_once()
        assert await rig.runner("room.kitchen[1]").poll_once()
        assert rig.last("home/kitchen/fridge") == "4.5"
        assert rig.last("home/kitchen/freezer") == "-18.2"
        assert rig.last("home/kitchen/fridge/availability") == "online"
        # the kernel's files were read: the probes' directories hold what was parsed
        assert (tmp_path / "w1" / FRIDGE / "w1_slave").read_text().endswith("t=4500\n")
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_crc_failures_power_on_value_and_zeros_are_rejected(tmp_path: Path) -> None:
    async def scenario() -> None:
        hardware, fridge, _ = wired(tmp_path)
        rig = await start(CONFIG, tmp_path, hardware)
        runner = rig.runner("room.kitchen[0]")
        for fault, reason in ((ProbeFault.CRC, "CRC check failed"),
                              (ProbeFault.POWER_ON, "85.0 degC power-on value"),
                              (ProbeFault.ZEROS, "all-zero scratchpad")):
            fridge.fault = fault
            assert await runner.poll_once() is False
            assert runner.last_error is not None and reason in runner.last_error
        assert rig.bus.values("home/kitchen/fridge") == []
        assert rig.last("home/kitchen/fridge/availability") == "offline"
        fridge.fault = ProbeFault.NONE
        assert await runner.poll_once() is True
        assert rig.bus.values("home/kitchen/fridge/availability") == ["offline", "online"]
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_an_unplugged_probe_goes_offline_naming_the_probes_present(tmp_path: Path) -> None:
    async def scenario() -> None:
        hardware, fridge, _ = wired(tmp_path)
        rig = await start(CONFIG, tmp_path, hardware)
        runner = rig.runner("room.kitchen[0]")
        fridge.fault = ProbeFault.MISSING
        assert await runner.poll_once() is False
        assert not (tmp_path / "w1" / FRIDGE).exists()
        assert runner.last_error == (f"probe {FRIDGE} is not on the 1-Wire bus "
                                     f"(found: {FREEZER})")
        assert rig.last("home/kitchen/fridge/availability") == "offline"
        # the other probe on the same pin carries on
        assert await rig.runner("room.kitchen[1]").poll_once() is True
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_the_kernels_directory_is_read_as_it_is(tmp_path: Path) -> None:
    # W1Sysfs on a directory laid out like /sys/bus/w1/devices, with a bus master entry
    # that is not a probe.
    (tmp_path / "w1_bus_master1").mkdir()
    probe = tmp_path / FRIDGE
    probe.mkdir()
    (probe / "w1_slave").write_text("50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n"
                                    "50 05 4b 46 7f ff 0c 10 1c t=85000\n")
    bus = W1Sysfs(tmp_path)
    assert bus.probes() == [FRIDGE]
    assert "85000" in bus.read_slave(FRIDGE)


def test_config_errors() -> None:
    base = '[[room.a]]\ndriver = "ds18b20"\npin = 4\nrom = "28-0316a2795eff"\n'
    assert config_errors(base + '[[room.a]]\ndriver = "ds18b20"\nname = "b"\npin = 4\n'
                         'rom = "28-0316a27a1bff"\n') == []
    assert config_errors(base + '[[room.b]]\ndriver = "button"\npin = 4\n') == [
        "test.toml:7: room.b[0].pin: GPIO 4 is already used by room.a[0] (line 1)"]
    assert config_errors(base + '[[room.a]]\ndriver = "ds18b20"\nname = "b"\npin = 4\n'
                         'rom = "28-0316a2795eff"\n') == [
        "test.toml:9: room.a[1].rom: 1-Wire probe 28-0316a2795eff is already used by "
        "room.a[0] (line 1)"]
    assert config_errors('[[room.a]]\ndriver = "ds18b20"\npin = 4\nrom = "0316a2795eff"\n') \
        == ['test.toml:4: room.a[0].rom: must be a probe\'s ROM id as in '
            '/sys/bus/w1/devices, e.g. "28-0316a2795eff"']
    assert config_errors('[[room.a]]\ndriver = "ds18b20"\npin = 4\n') == [
        "test.toml:1: room.a[0]: missing key 'rom'"]
