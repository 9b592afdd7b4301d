"""``GET /metrics``: the broker's and the gateway's Prometheus metrics on the dashboard port.

Behind the dashboard's login like every page (loopback free); Prometheus signs in with
``basic_auth`` as a broker user (README: Metrics).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from broker.metrics import exposition, registry_of

if TYPE_CHECKING:
    from broker import Broker

PATH = "/metrics"


def add_metrics_route(app: web.Application, broker: Broker) -> None:
    """Register ``GET /metrics`` serving ``broker``'s registry."""

    async def metrics(_request: web.Request) -> web.Response:
        body, content_type = exposition(registry_of(broker))
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.router.add_get(PATH, metrics)
