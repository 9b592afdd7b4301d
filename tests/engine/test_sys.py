"""$SYS values computed by the engine (the network side is in tests/broker/test_sys.py)."""

from __future__ import annotations

from broker.engine.engine import Engine
from broker.protocol import encode
from broker.protocol.packets import Connect


def _sys(engine: Engine) -> dict[str, str]:
    return dict(engine.sys.messages())


def test_clients_are_counted_per_listener() -> None:
    engine = Engine()
    serial = engine.connect("serial:/dev/ttyUSB0", "serial")
    serial.data_received(encode(Connect(client_id="node-1"), 4))
    tcp = engine.connect("192.0.2.1:1000", "default")
    tcp.data_received(encode(Connect(client_id="phone"), 4))
    values = _sys(engine)
    assert values["$SYS/broker/listeners/serial/clients/connected"] == "1"
    assert values["$SYS/broker/listeners/default/clients/connected"] == "1"
    assert values["$SYS/broker/clients/connected"] == "2"
    serial.connection_lost()
    values = _sys(engine)
    assert values["$SYS/broker/listeners/serial/clients/connected"] == "0"
    assert values["$SYS/broker/clients/connected"] == "1"
