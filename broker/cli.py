"""`gateway broker` and `python -m broker`: run the broker alone."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from typing import Any

import click

from .config import BrokerConfig
from .server.app import Broker

_SKIP = {"policy", "uvloop", "listeners"}


def _options(func: Any) -> Any:
    """One click option per BrokerConfig field, help taken from the field's metadata."""
    defaults = BrokerConfig()
    for f in reversed(dataclasses.fields(BrokerConfig)):
        if f.name in _SKIP:
            continue
        name = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        if f.name == "deny_subscribe":
            func = click.option(
                name, multiple=True, metavar="FILTER", help=help_text + " Repeatable."
            )(func)
            continue
        default = getattr(defaults, f.name)
        kind = {str: str, int: int, float: float}[type(default)]
        func = click.option(name, type=kind, default=default, show_default=True, help=help_text)(
            func
        )
    return func


def install_uvloop(enabled: bool) -> bool:
    """Use uvloop's event loop when installed and wanted; returns whether it is in use."""
    if not enabled:
        return False
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


async def run_until_signalled(broker: Broker, metrics: tuple[str, int] | None = None) -> None:
    """Start ``broker``, its bridges (``bridge_config``) and its Prometheus endpoint on
    ``metrics`` = (host, port), and run until SIGINT or SIGTERM: the composition root of
    ``python -m broker`` (``gateway run`` has its own, gateway.serve)."""
    await broker.start()
    runner = None
    try:
        if broker.config.bridge_config:
            from .bridge import start_bridges

            broker.bridges = start_bridges(broker, broker.config.bridge_config)
        if metrics is not None:
            from .metrics import start_metrics_server

            runner = await start_metrics_server(broker, *metrics)
    except BaseException:
        await _stop(broker)
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, broker.reload)
    try:
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        await _stop(broker)


async def _stop(broker: Broker) -> None:
    if broker.bridges:
        from .bridge import stop_bridges

        await stop_bridges(broker.bridges)
        broker.bridges = []
    await broker.stop()


@click.command("broker")
@_options
@click.option(
    "--no-uvloop", is_flag=True, help="Use asyncio's own event loop even when uvloop is installed."
)
@click.option(
    "--metrics-port", type=int, default=None, metavar="PORT",
    help="Serve Prometheus metrics on http://METRICS_HOST:PORT/metrics (no login).",
)
@click.option(
    "--metrics-host", default="127.0.0.1", show_default=True,
    help="Address of the metrics endpoint; it has no login, so think before opening it.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Logging verbosity.",
)
def broker_command(no_uvloop: bool, log_level: str, metrics_port: int | None,
                   metrics_host: str, **settings: Any) -> None:
    """Run the MQTT broker alone (MQTT 3.1, 3.1.1 and 5.0 on one listener)."""
    setup_logging(log_level)
    settings["deny_subscribe"] = list(settings["deny_subscribe"])
    config = BrokerConfig(**settings, uvloop=not no_uvloop)
    using = install_uvloop(config.uvloop)
    logging.getLogger("broker").info("event loop: %s", "uvloop" if using else "asyncio")
    try:
        metrics = (metrics_host, metrics_port) if metrics_port is not None else None
        asyncio.run(run_until_signalled(Broker(config), metrics))
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc}") from exc
    except ValueError as exc:  # bad settings found at start: a bridge file, a listener, ...
        raise click.ClickException(str(exc)) from exc


def main() -> None:
    """Entry point of ``python -m broker``."""
    broker_command(prog_name="python -m broker")
