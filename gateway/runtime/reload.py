"""``systemctl reload`` / SIGHUP: read gateway.toml again and apply what can change while
running.

The sensors (``[[room.*]]``: drivers, pins, names, intervals, filters, options) change
without a restart; a sensor whose settings are the same keeps running untouched. The
``[gateway]``, ``[broker]``, ``[mqtt]``, ``[serial]`` and ``[nodes]`` tables are read at start only: a
change there is logged as waiting for a restart. A file with an error changes nothing:
every error is logged as ``file:line: key: problem`` and the running config stays.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from gateway.config import Config, ConfigErrors, load_config
from gateway.runtime.app import Gateway

log = logging.getLogger(__name__)

#: Tables that take effect at start only.
RESTART_TABLES = ("gateway", "broker", "mqtt", "serial", "nodes")


async def reload_config(running: Config, gateway: Gateway) -> Config:
    """Re-read ``running.path``; apply its sensors to ``gateway``. Returns the config now
    in force (``running`` itself when the file has errors)."""
    path = running.path
    try:
        new = await asyncio.get_running_loop().run_in_executor(None, load_config, path)
    except ConfigErrors as exc:
        for error in exc.errors:
            log.error("%s", error)
        count = len(exc.errors)
        log.error("%s not reloaded (%d error%s): the running config stays in force", path,
                  count, "" if count == 1 else "s")
        return running
    for table in RESTART_TABLES:
        for key in changed_keys(getattr(running, table), getattr(new, table)):
            log.warning("%s: %s.%s changed: takes effect at the next restart", path, table,
                        key)
    kept, stopped, started = await gateway.reload(new.sensors)
    log.info("%s reloaded: %d sensors unchanged, %d stopped, %d started", path, kept,
             stopped, started)
    return dataclasses.replace(running, sensors=new.sensors)


def changed_keys(old: Any, new: Any) -> list[str]:
    """Keys whose values differ between two settings tables (dataclasses or mappings)."""
    if dataclasses.is_dataclass(old) and dataclasses.is_dataclass(new):
        old, new = vars(old), vars(new)
    assert isinstance(old, Mapping) and isinstance(new, Mapping)
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
