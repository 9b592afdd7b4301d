"""Fixtures: brokers in subprocesses (ours, Debian's mosquitto) joined by a bridge."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from store.procs import OurBroker
from support.ports import free_port
from support.processes import Mosquitto, ServerProcess


@pytest.fixture
def procs() -> Iterator[list[ServerProcess]]:
    """Processes started by a test; all stopped at its end."""
    started: list[ServerProcess] = []
    yield started
    for p in reversed(started):
        p.stop()


@pytest.fixture
def our_broker(tmp_path: Path, procs: list[ServerProcess]) -> Callable[..., OurBroker]:
    def start(name: str, *args: str, data: bool = True) -> OurBroker:
        extra = ["--data-dir", str(tmp_path / f"data-{name}")] if data else []
        broker = OurBroker(free_port(), tmp_path / f"{name}.log", [*extra, *args])
        broker.start()
        procs.append(broker)
        return broker

    return start


@pytest.fixture
def mosquitto(tmp_path: Path, procs: list[ServerProcess]) -> Callable[..., Mosquitto]:
    if not Mosquitto.available():
        pytest.skip("mosquitto not installed (deploy/dev-deps.sh installs it)")

    def start(extra: str = "") -> Mosquitto:
        m = Mosquitto(tmp_path, "allow_anonymous true\n" + extra, log_path=tmp_path / "mosquitto.log")
        m.start()
        procs.append(m)
        return m

    return start


def bridge_file(tmp_path: Path, port: int, topics: list[str], **settings: object) -> Path:
    """A bridge config file pointing at 127.0.0.1:port."""
    lines = ["[[bridge]]", 'name = "up"', f'address = "127.0.0.1:{port}"',
             "restart_timeout = [0.2, 1.0]"]  # fmt: skip
    for key, value in settings.items():
        lines.append(f"{key} = {_toml(value)}")
    lines.append("topic = [" + ", ".join(_toml(t) for t in topics) + "]")
    path = tmp_path / f"bridge-{port}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)
