"""The dashboard's web server: pages, JSON API, WebSocket, login, on aiohttp.

Routes (everything but the login page and the static assets needs a login, except for
requests from loopback). A signed-in user sees and switches exactly what the broker's ACL
lets them read and write over MQTT (see access.py):

    GET  /                      the page (static/index.html)
    GET  /login, POST /login    sign in with a broker user; POST /logout ends the session
    GET  /api/state             every entity the user may read, and the gateway health
    GET  /api/history?topic=T[&topic=U...]&range=24h|7d
                                averaged points [t, avg, min, max] per topic, for plots
    POST /api/switch            {"topic": T, "on": true|false}: publishes the command to
                                T's command topic; the confirmed state arrives live
    POST /api/nodes/update      {"node": "<room>/<node>"}: publishes ``install`` to the
                                node's firmware/install topic; the progress arrives live
    GET  /api/live              WebSocket of changes (see live.py)
    GET  /static/..., /manifest.webmanifest   assets shipped in the wheel
    GET  /metrics               Prometheus metrics (metrics.py)

The dashboard only talks to the broker through ``broker.publish`` and ``broker.subscribe``
(docs/contracts.md), so it shows whatever the gateway, ESP8266 nodes and other clients
publish, and it works the same whoever publishes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from broker.engine.addresses import peer_host
from broker.store.private import private_dir
from gateway.dashboard import backup_routes
from gateway.dashboard.access import LOCAL, SYS_PROBE, Access, Viewer, listener_for
from gateway.dashboard.auth import COOKIE, SessionSigner, Users, is_loopback, is_loopback_host
from gateway.dashboard.catalog import Catalog
from gateway.dashboard.health import SYS_PREFIX, BrokerHealth, machine_health
from gateway.dashboard.history import DAY, WEEK, HistoryStore
from gateway.dashboard.live import LiveHub
from gateway.dashboard.metrics import add_metrics_route
from gateway.dashboard.nodes import PAYLOAD_INSTALL, NodeList
from gateway.dashboard.redirects import safe_next

if TYPE_CHECKING:
    from broker import Broker, Message

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
RANGES = {"24h": DAY, "7d": WEEK}
PLOT_POINTS = 288  # 5-minute buckets over a day: about one per pixel column on a phone
# Typed request keys arrived in aiohttp 3.14 (plain strings warn there); older ones take str.
_USER: Any = web.RequestKey("user", str) if hasattr(web, "RequestKey") else "user"
_VIEWER: Any = web.RequestKey("viewer", Viewer) if hasattr(web, "RequestKey") else "viewer"
_PUBLIC = ("/login", "/static/", "/manifest.webmanifest", "/favicon.ico")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Dashboard:
    """The dashboard on the gateway's event loop, fed by the in-process broker.

    ``port`` 0 picks a free port (read :attr:`port` after :meth:`start`); ``host`` None
    listens on every address, IPv4 and IPv6. ``password_file`` is the broker's Mosquitto
    password file; without one (or with no users in it) only loopback can open the page.
    ``listener`` names the broker listener whose ACL a signed-in user gets (default: the
    first one reading ``password_file``). ``ssl_context`` serves HTTPS, with Secure cookies.
    """

    def __init__(
        self,
        broker: Broker,
        port: int = 80,
        host: str | None = None,
        data_dir: str | Path = "/var/lib/sensor-gateway",
        password_file: str | Path | None = None,
        *,
        trust_loopback: bool = True,
        topic_prefix: str = "home",
        discovery_prefix: str = "homeassistant",
        history_flush: float = 300.0,
        health_interval: float = 10.0,
        listener: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        session_check_interval: float = 5.0,
    ) -> None:
        self.broker = broker
        self.port = port
        self.host = host
        self.data_dir = Path(data_dir)
        self.trust_loopback = trust_loopback
        self.health_interval = health_interval
        self.users = Users(password_file)
        self.access = Access(broker, listener or listener_for(
            broker, None if password_file is None else str(password_file)))
        self.ssl_context = ssl_context
        self.session_check_interval = session_check_interval
        self.catalog = Catalog(prefix=topic_prefix, discovery_prefix=discovery_prefix)
        self.nodes = NodeList(prefix=topic_prefix)
        self.broker_health = BrokerHealth()
        self.history = HistoryStore(self.data_dir / "history.sqlite3",
                                    flush_interval=history_flush)
        self.live = LiveHub()
        #: the broker's one backoff: a wait earned on any listener holds here too
        self.guard = broker.login_guard
        self._signer: SessionSigner | None = None
        self._subscriptions: list[Any] = []
        self._runner: web.AppRunner | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._sessions_task: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the history, subscribe to the broker, and start serving HTTP; on failure
        (the port is taken, say) everything started is stopped again and the error raised."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        with contextlib.suppress(OSError):  # a full disk: each file says so on its own
            private_dir(self.data_dir)  # logins' key and logouts: for the service alone
        self._signer = SessionSigner.from_data_dir(self.data_dir, self.users)
        await self.history.start()
        # $SYS is not matched by '#' (MQTT hides $-topics from wildcards), hence three.
        for topic_filter in (self.catalog.prefix + "/#", self.catalog.discovery_prefix + "/#",
                             SYS_PREFIX + "#"):
            self._subscriptions.append(self.broker.subscribe(topic_filter, self._on_message))
        # Retained values carry no time; the history knows when the last one was taken.
        for topic, (at, value) in (await self.history.last_samples()).items():
            self.catalog.note_time(topic, at, value)
        if not self.users.configured:
            log.warning("dashboard: no users in the password file; only this machine "
                        "(loopback) can open the dashboard")
        app = self.make_app()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True,
                           ssl_context=self.ssl_context)
        await site.start()
        if self._runner.addresses:
            self.port = self._runner.addresses[0][1]
        self._health_task = asyncio.create_task(self._health_loop(), name="dashboard-health")
        self._sessions_task = asyncio.create_task(self._sessions_loop(),
                                                  name="dashboard-sessions")
        log.info("dashboard on %s://%s:%d/", "https" if self.ssl_context else "http",
                 self.host or "*", self.port)

    async def stop(self) -> None:
        """Stop serving, unsubscribe, and write the buffered history."""
        for task in (self._health_task, self._sessions_task):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        for sub in self._subscriptions:
            sub.cancel()
        self._subscriptions.clear()
        await self.live.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.history.stop()

    def make_app(self) -> web.Application:
        """The aiohttp application: routes, static files, the login check."""
        app = web.Application(middlewares=[self._auth_middleware])
        app.router.add_get("/", self._index)
        app.router.add_get("/login", self._login_page)
        app.router.add_post("/login", self._login)
        app.router.add_post("/logout", self._logout)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/history", self._history)
        app.router.add_post("/api/switch", self._switch)
        app.router.add_post("/api/nodes/update", self._update_node)
        app.router.add_get("/api/live", self._live)
        app.router.add_get("/manifest.webmanifest", self._manifest)
        app.router.add_static("/static/", STATIC)
        # Broker figures only for users who may read $SYS, as on the page (health).
        add_metrics_route(app, self.broker,
                          lambda request: request[_VIEWER].may_read(SYS_PROBE))
        backup_routes.register(app, self, lambda request: request.get(_USER))
        return app

    # --- broker side -------------------------------------------------------------------

    def _on_message(self, msg: Message) -> None:
        topic = msg.topic
        if topic.startswith("$SYS/"):
            self.broker_health.handle(topic, msg.payload)
            return
        node = self.nodes.handle(topic, msg.payload)
        if node is not None and len(self.live):
            self.live.broadcast(self._node_event(node))
        for changed in self.catalog.handle(topic, msg.payload, msg.retain):
            entity = self.catalog.entities.get(changed)
            if entity is None:
                self.live.broadcast(_removal(changed))
                continue
            if changed == topic and not msg.retain:
                number = entity.number()
                if number is not None:
                    self.history.add(topic, number)
            if len(self.live):  # no page open: no JSON to build
                self.live.broadcast(self._entity_event(changed))

    def _entity_event(self, topic: str) -> Callable[[Viewer], dict[str, Any] | None]:
        def event(viewer: Viewer) -> dict[str, Any] | None:
            entity = self.catalog.entities.get(topic)
            if entity is None or not viewer.may_read(topic):
                return None
            return {"type": "entity", "entity": self.catalog.entity_json(
                entity, viewer.may_read, viewer.may_write)}
        return event

    def _node_event(self, key: str) -> Callable[[Viewer], dict[str, Any] | None]:
        def event(viewer: Viewer) -> dict[str, Any] | None:
            shown = self.nodes.node_json(key, viewer.may_read, viewer.may_write)
            if shown is not None:
                return {"type": "node", "node": shown}
            # Gone (forgotten): only those who could read it hear that it went.
            announce = self.nodes.topic(key, "announce")
            return {"type": "node_remove", "id": key} if viewer.may_read(announce) else None
        return event

    def health(self, viewer: Viewer) -> dict[str, Any]:
        """Broker figures (for users who may read ``$SYS``), machine figures and the status
        of the nodes the user may read, for the health card."""
        nodes = self.catalog.nodes(viewer.may_read)
        return {
            "broker": _hidden(self.broker_health.as_json(), viewer.may_read(SYS_PROBE)),
            "machine": machine_health(self.data_dir),
            "nodes": [{"topic": t, "online": up} for t, up in sorted(nodes.items())],
            "live_clients": len(self.live),
        }

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval)
            if len(self.live):
                self.live.broadcast(self._health_event(time.time()))

    def _health_event(self, now: float) -> Callable[[Viewer], dict[str, Any]]:
        return lambda viewer: {"type": "health", "health": self.health(viewer), "now": now}

    async def _sessions_loop(self) -> None:
        # Live sockets outlast the request that checked their login: a changed password
        # (the file re-read here) or a logout elsewhere must still end them.
        while True:
            await asyncio.sleep(self.session_check_interval)
            self.live.sweep()

    # --- auth --------------------------------------------------------------------------

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(_PUBLIC):
            return await handler(request)
        user = await self._user_of(request)
        if user is None:
            if path.startswith("/api/") or path == "/metrics":  # scripts: no login page
                return web.json_response({"error": "login required"}, status=401,
                                         headers={"WWW-Authenticate": 'Basic realm="gateway"'})
            raise web.HTTPFound("/login")
        # State changes and the live socket only for pages served from here: a page on
        # another site cannot use the visitor's login (or loopback) to switch or listen.
        if (request.method == "POST" or path == "/api/live") and not _same_origin(request):
            return web.json_response({"error": "cross-origin request refused"}, status=403)
        request[_USER] = user
        request[_VIEWER] = self.access.viewer(user, request.remote or "")
        return await handler(request)

    async def _user_of(self, request: web.Request) -> str | None:
        # Loopback is trusted only under a loopback name: a page whose own name was made to
        # resolve to 127.0.0.1 (DNS rebinding) arrives from loopback with its name as Host.
        if (self.trust_loopback and is_loopback(request.remote)
                and is_loopback_host(request.host)):
            return LOCAL
        assert self._signer is not None
        user = self._signer.check(request.cookies.get(COOKIE))
        if user is not None:
            return user
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            try:
                name, _, password = base64.b64decode(basic[6:]).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            if await self._verify(request, name, password):
                return name
        return None

    def _login_holds(self, request: web.Request, user: str) -> Callable[[], bool]:
        """Whether the login a request was made with still holds (for long-lived sockets):
        its cookie is not logged out and the password is unchanged."""
        if user == LOCAL:
            return lambda: True
        assert self._signer is not None
        signer, token = self._signer, request.cookies.get(COOKIE)
        if signer.check(token) == user:
            return lambda: signer.check(token) == user
        fingerprint = self.users.fingerprint(user)  # HTTP basic: bound to this password
        return lambda: fingerprint is not None and self.users.fingerprint(user) == fingerprint

    async def _verify(self, request: web.Request, username: str, password: str) -> bool:
        """Check a password off the loop, against the broker's shared backoff (per address
        and per user, the same one every MQTT listener counts against)."""
        address = peer_host(request.remote or "?")
        if not self.guard.begin(address, username):
            log.warning("dashboard: login for %r from %s refused unchecked: too many wrong "
                        "passwords", username, address)
            return False
        ok = await asyncio.get_running_loop().run_in_executor(
            self.broker.password_checks(), self.users.verify, username, password
        )
        if ok:
            self.guard.succeeded(address, username)
        else:
            log.warning("dashboard: wrong password for %r from %s", username, address)
        return ok

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "login.html")

    async def _login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        target = safe_next(str(form.get("next", "/")))
        if not username or not await self._verify(request, username, password):
            raise web.HTTPFound("/login?failed=1")
        assert self._signer is not None
        response = web.HTTPFound(target)
        response.set_cookie(COOKIE, self._signer.issue(username), max_age=int(
            self._signer.lifetime), httponly=True, samesite="Strict", path="/",
            secure=self.ssl_context is not None)
        raise response

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        assert self._signer is not None
        # Ended on the server: the same cookie, kept or copied, no longer signs anyone in,
        # and the pages it opened stop receiving.
        if self._signer.revoke(request.cookies.get(COOKIE)):
            self.live.sweep()
        response = web.HTTPFound("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    # --- pages and API -----------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _manifest(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "manifest.webmanifest",
                                headers={"Content-Type": "application/manifest+json"})

    async def _state(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._state_json(request))

    def _state_json(self, request: web.Request) -> dict[str, Any]:
        viewer: Viewer = request[_VIEWER]
        return {
            "entities": self.catalog.snapshot(viewer.may_read, viewer.may_write),
            "nodes": self.nodes.snapshot(viewer.may_read, viewer.may_write),
            "health": self.health(viewer),
            "now": time.time(),
            "user": request.get(_USER),
        }

    async def _history(self, request: web.Request) -> web.StreamResponse:
        viewer: Viewer = request[_VIEWER]
        topics = request.query.getall("topic", [])
        span_name = request.query.get("range", "24h")
        span = RANGES.get(span_name)
        if span is None:
            return web.json_response({"error": f"range must be one of {sorted(RANGES)}"},
                                     status=400)
        # What the user may not read is answered as if it did not exist.
        unknown = [t for t in topics
                   if t not in self.catalog.entities or not viewer.may_read(t)]
        if not topics or unknown:
            return web.json_response({"error": "unknown topic", "topics": unknown},
                                     status=404)
        series = await self.history.query_many(topics, span, PLOT_POINTS)
        return web.json_response({"range": span_name, "series": {
            topic: [p.as_list() for p in points] for topic, points in series.items()}})

    async def _switch(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": "body must be JSON"}, status=400)
        topic = body.get("topic") if isinstance(body, dict) else None
        on = body.get("on") if isinstance(body, dict) else None
        if not isinstance(topic, str) or not isinstance(on, bool):
            return web.json_response({"error": 'expected {"topic": str, "on": bool}'},
                                     status=400)
        viewer: Viewer = request[_VIEWER]
        command = self.catalog.command_topic(topic) if viewer.may_read(topic) else None
        if command is None:
            return web.json_response({"error": "not a switch"}, status=404)
        if not viewer.may_write(command):
            # What MQTT answers this user's PUBLISH (0x87): the dashboard is no way around it.
            log.warning("dashboard: %s may not switch %s (ACL)", viewer.name, command)
            return web.json_response({"error": "not authorized"}, status=403)
        payload = self.catalog.payload_for(topic, on)
        # Commands are never retained: a restarted relay driver must not replay one.
        self.broker.publish(command, payload, qos=1, retain=False)
        log.info("dashboard: %s set %s to %s", request.get(_USER), topic, payload)
        return web.json_response({"command_topic": command, "payload": payload}, status=202)

    async def _update_node(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": "body must be JSON"}, status=400)
        key = body.get("node") if isinstance(body, dict) else None
        if not isinstance(key, str):
            return web.json_response({"error": 'expected {"node": "<room>/<node>"}'},
                                     status=400)
        viewer: Viewer = request[_VIEWER]
        if not self.nodes.visible_to(key, viewer.may_read):
            return web.json_response({"error": "no such node"}, status=404)
        install = self.nodes.install_topic(key)
        if not viewer.may_write(install):
            # What MQTT answers this user's PUBLISH (0x87): the dashboard is no way around it.
            log.warning("dashboard: %s may not update node %s (ACL)", viewer.name, key)
            return web.json_response({"error": "not authorized"}, status=403)
        # Not retained: a request is acted on once, by the gateway's update service.
        self.broker.publish(install, PAYLOAD_INSTALL, qos=1, retain=False)
        log.info("dashboard: %s asked for a firmware update of node %s", request.get(_USER), key)
        return web.json_response({"install_topic": install, "payload": PAYLOAD_INSTALL},
                                 status=202)

    async def _live(self, request: web.Request) -> web.StreamResponse:
        hello = {"type": "state", **self._state_json(request)}
        user = request[_USER]
        return await self.live.serve(request, hello, request[_VIEWER],
                                     self._login_holds(request, user))


def _removal(topic: str) -> Callable[[Viewer], dict[str, Any] | None]:
    def event(viewer: Viewer) -> dict[str, Any] | None:
        return {"type": "remove", "topic": topic} if viewer.may_read(topic) else None
    return event


def _hidden(figures: dict[str, Any], shown: bool) -> dict[str, Any]:
    """The figures, or the same keys unknown for a user who may not read them."""
    return figures if shown else dict.fromkeys(figures)


def _same_origin(request: web.Request) -> bool:
    """Refuse state-changing requests that a page on another site made the browser send."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser cross-site request (curl, the app's own form posts)
    host = request.headers.get("Host", "")
    return origin in (f"http://{host}", f"https://{host}")

