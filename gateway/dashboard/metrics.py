"""``GET /metrics``: the broker's and the gateway's Prometheus metrics on the dashboard port.

Behind the dashboard's login like every page (loopback free); Prometheus signs in with
``basic_auth`` as a broker user (README: Metrics). The figures are the broker's ``$SYS``
ones and more, so only a user who may read ``$SYS`` over MQTT gets them, as on the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from broker.metrics import exposition, registry_of

if TYPE_CHECKING:
    from broker import Broker

PATH = "/metrics"


def add_metrics_route(app: web.Application, broker: Broker,
                      allowed: Callable[[web.Request], bool] = lambda _request: True) -> None:
    """Register ``GET /metrics`` serving ``broker``'s registry to requests ``allowed``
    says may see it (403 for the others)."""

    async def metrics(request: web.Request) -> web.Response:
        if not allowed(request):
            return web.json_response({"error": "not authorized"}, status=403)
        body, content_type = exposition(registry_of(broker))
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.router.add_get(PATH, metrics)
