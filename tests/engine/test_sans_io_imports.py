"""The codec and the engine are sans-IO in fact, not only on paper: importing them loads
no asyncio, socket, ssl or sqlite3 (the server, the store and the bridges do)."""

from __future__ import annotations

import subprocess
import sys

IO_MODULES = ("asyncio", "socket", "sqlite3", "ssl")


def _loaded_by(statement: str) -> set[str]:
    probe = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return set(out.split())


def test_codec_and_engine_import_no_io() -> None:
    loaded = _loaded_by("import broker.protocol, broker.engine")
    assert not set(IO_MODULES) & loaded
    assert not {m for m in loaded if m.startswith(("broker.server", "broker.store",
                                                   "broker.bridge"))}


def test_the_package_root_loads_the_server_only_when_asked() -> None:
    assert "broker.server.app" not in _loaded_by("import broker")
    assert "asyncio" in _loaded_by("from broker import Broker")
