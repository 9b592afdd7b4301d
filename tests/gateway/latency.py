"""Measure: a GPIO edge (gpiozero MockFactory) to a paho subscriber on the embedded
broker, end to end through the gateway's input runner and the in-process publish.

    python3 tests/gateway/latency.py [COUNT]

Prints median, 95th percentile and maximum in milliseconds. Not a test: timings depend on
the machine and its load."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gpiozero.pins.mock import MockFactory  # noqa: E402
from gw_helpers import Recorder, RunningGateway  # noqa: E402

from gateway.hardware import Hardware  # noqa: E402

CONFIG = '[[room.hall]]\ndriver = "button"\npin = 17\ndebounce = 0\n'


def measure(count: int) -> list[float]:
    """Seconds from each pin edge to the subscriber receiving the new state."""
    factory = MockFactory()
    samples = []
    with tempfile.TemporaryDirectory() as tmp, \
            RunningGateway(CONFIG, Path(tmp), Hardware(simulated=True,
                                                       pin_factory=factory)) as gw, \
            Recorder(gw.port, "home/hall/button") as rec:
        rec.wait_for("home/hall/button", "OFF")
        pin = factory.pin(17)
        for i in range(count):
            rec.clear()
            pressed = i % 2 == 0
            start = time.perf_counter()
            if pressed:
                pin.drive_low()
            else:
                pin.drive_high()
            rec.wait_for("home/hall/button", "ON" if pressed else "OFF")
            samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    samples = sorted(measure(count))
    ms = [s * 1000 for s in samples]
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"{count} edges: median {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms, "
          f"max {ms[-1]:.2f} ms")


if __name__ == "__main__":
    main()
