"""DHT error sequences through the same poll loop the simulated and real sensors use."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

from gw_helpers import EngineBus, ScriptedDht
from support.clock import SleepClock

from gateway.config import parse_config
from gateway.drivers.dht_sim import SimulatedDht
from gateway.hardware import Hardware
from gateway.runtime.app import Gateway
from gateway.runtime.polled import PolledRunner

CHECKSUM = RuntimeError("Checksum did not validate. Try again.")
NOT_FOUND = RuntimeError("DHT sensor not found, check wiring")

CONFIG = '''
[[room.kitchen]]
driver = "dht22"
pin = 4
interval = 30
max_failures = 2
{extra}
'''

TEMP = "home/kitchen/temperature"
HUM = "home/kitchen/humidity"
AVAIL = "home/kitchen/temperature/availability"


Step = tuple[float, float] | BaseException


async def start(script: Sequence[Step], tmp_path: Path, extra: str = "",
                clock: SleepClock | None = None
                ) -> tuple[Gateway, PolledRunner, EngineBus, ScriptedDht, SleepClock]:
    clock = clock or SleepClock()
    backend = ScriptedDht(script, clock=clock.now)
    config = parse_config(CONFIG.format(extra=extra))
    bus = EngineBus()
    hardware = Hardware(simulated=True, dht_factory=lambda kind, pin: backend)
    gateway = Gateway(config, bus, hardware, tmp_path, clock=clock)
    await bus.start()
    await gateway.start()
    gateway._tasks[0].cancel()  # the tests drive the poll loop themselves
    (runner,) = gateway.polled
    return gateway, runner, bus, backend, clock


def test_retries_after_library_errors_within_one_interval(tmp_path: Path) -> None:
    async def scenario() -> None:
        gateway, runner, bus, backend, clock = await start(
            [CHECKSUM, NOT_FOUND, (21.4, 45.0)], tmp_path)
        assert await runner.poll_once() is True
        assert bus.values(TEMP) == ["21.4"] and bus.values(HUM) == ["45.0"]
        assert bus.values(AVAIL) == ["online"]
        # three reads, never closer than the sensor's 2 s
        gaps = [b - a for a, b in zip(backend.calls, backend.calls[1:], strict=False)]
        assert len(backend.calls) == 3 and all(g >= 2.0 for g in gaps)
        await gateway.stop()

    asyncio.run(scenario())


def test_offline_after_max_failures_and_back_online(tmp_path: Path) -> None:
    async def scenario() -> None:
        script = [CHECKSUM] * 8 + [(20.0, 50.0)]   # 4 attempts per interval
        gateway, runner, bus, backend, clock = await start(script, tmp_path)
        assert await runner.poll_once() is False
        assert bus.values(AVAIL) == []            # one bad interval is not yet offline
        assert await runner.poll_once() is False
        assert bus.values(AVAIL) == ["offline"]
        assert bus.values("home/kitchen/humidity/availability") == ["offline"]
        assert await runner.poll_once() is True   # keeps retrying, recovers
        assert bus.values(AVAIL) == ["offline", "online"]
        assert bus.values(TEMP) == ["20.0"]
        assert runner.failures == 0
        await gateway.stop()

    asyncio.run(scenario())


def test_garbage_frames_are_rejected_and_retried(tmp_path: Path) -> None:
    async def scenario() -> None:
        script = [(25.5, 6553.5), (1.0, 1.0), (0.0, 0.0), (-3276.7, 40.0), (22.0, 40.0)]
        gateway, runner, bus, backend, clock = await start(script, tmp_path,
                                                           extra="retries = 4")
        assert await runner.poll_once() is True
        assert bus.values(TEMP) == ["22.0"] and bus.values(HUM) == ["40.0"]
        assert len(backend.calls) == 5
        await gateway.stop()

    asyncio.run(scenario())


def test_implausible_jump_is_rejected_until_time_allows_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        # 21 -> 35 degC within 30 s is a bad read; 35 after 3 failed minutes is plausible.
        script = [(21.0, 40.0)] + [(35.0, 40.0)] * 20
        gateway, runner, bus, backend, clock = await start(script, tmp_path,
                                                           extra="retries = 0")
        assert await runner.poll_once() is True
        results = []
        for _ in range(6):
            await clock.sleep(30)
            results.append(await runner.poll_once())
        assert results[0] is False and "jumped" in (runner.last_error or "")
        assert True in results
        assert bus.values(TEMP) == ["21.0", "35.0"]
        await gateway.stop()

    asyncio.run(scenario())


def test_a_hung_read_counts_as_failed_without_piling_up_threads(tmp_path: Path) -> None:
    release = threading.Event()

    class Hanging:
        calls = 0

        def measure(self):
            Hanging.calls += 1
            release.wait(30)
            return (20.0, 40.0)

        def close(self) -> None:
            release.set()

    async def scenario() -> None:
        clock = SleepClock()
        config = parse_config(CONFIG.format(extra="read_timeout = 0.2\nretries = 2"))
        bus = EngineBus()
        hardware = Hardware(simulated=True, dht_factory=lambda kind, pin: Hanging())
        gateway = Gateway(config, bus, hardware, tmp_path, clock=clock)
        await bus.start()
        await gateway.start()
        gateway._tasks[0].cancel()
        runner = gateway.polled[0]
        assert await runner.poll_once() is False
        assert Hanging.calls == 1                 # the retries did not start new reads
        assert "previous read" in (runner.last_error or "")
        release.set()
        await gateway.stop()

    asyncio.run(scenario())


def test_filters_apply_to_dht_channels(tmp_path: Path) -> None:
    async def scenario() -> None:
        extra = ('[room.kitchen.temperature]\nfilters = { offset = -0.5, delta = 0.3 }\n'
                 '[room.kitchen.humidity]\nenabled = false\n')
        script = [(21.0, 40.0), (21.2, 41.0), (21.6, 42.0)]
        gateway, runner, bus, backend, clock = await start(script, tmp_path, extra=extra,
                                                           clock=SleepClock())
        for _ in range(3):
            assert await runner.poll_once() is True
            await clock.sleep(30)
        assert bus.values(TEMP) == ["20.5", "21.1"]
        assert bus.values(HUM) == []
        await gateway.stop()

    asyncio.run(scenario())


def test_simulated_dht_goes_through_the_same_loop(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SleepClock()
        sim = SimulatedDht("dht22", seed=7, error_rate=0.3, garbage_rate=0.1, clock=clock.now)
        config = parse_config(CONFIG.format(extra="retries = 5"))
        bus = EngineBus()
        hardware = Hardware(simulated=True, dht_factory=lambda kind, pin: sim)
        gateway = Gateway(config, bus, hardware, tmp_path, clock=clock)
        await bus.start()
        await gateway.start()
        gateway._tasks[0].cancel()
        runner = gateway.polled[0]
        for _ in range(30):
            await runner.poll_once()
            await clock.sleep(30)
        temps = [float(v) for v in bus.values(TEMP)]
        hums = [float(v) for v in bus.values(HUM)]
        assert len(temps) >= 25
        assert all(15.0 <= t <= 26.0 for t in temps) and all(30 <= h <= 65 for h in hums)
        assert len(set(temps)) > 5               # the readings move
        await gateway.stop()
        assert sim.closed

    asyncio.run(scenario())


def test_a_sensor_that_cannot_start_is_announced_offline(tmp_path: Path) -> None:
    def broken(kind: str, pin: int) -> ScriptedDht:
        raise RuntimeError("Unable to set line 4 to input")

    async def scenario() -> None:
        config = parse_config(CONFIG.format(extra=""))
        bus = EngineBus()
        gateway = Gateway(config, bus, Hardware(simulated=True, dht_factory=broken), tmp_path,
                          clock=SleepClock())
        await bus.start()
        await gateway.start()
        assert bus.retained[AVAIL] == b"offline"
        assert "homeassistant/sensor/gateway/kitchen_temperature/config" in bus.retained
        assert gateway.polled == []
        await gateway.stop()

    asyncio.run(scenario())
