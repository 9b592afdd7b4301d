"""A small Chrome DevTools Protocol client: Debian's headless Chromium, one page, driven over
its DevTools WebSocket with aiohttp. Enough for the dashboard test: navigate, evaluate,
wait for a condition, click like a finger (mouse events at the element's centre), emulate a
phone screen and take a screenshot. No browser download, no Playwright."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = "/usr/bin/chromium"
# The flags this machine's closed network needs (no background requests to Google) and a
# root user needs (no sandbox); a fresh profile per run.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
]


class CDPError(RuntimeError):
    """The browser answered a command with an error, or did not answer in time."""


class Chromium:
    """``async with Chromium() as page:`` one headless browser with one page."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.console: list[str] = []  # console messages and exceptions of the page
        self._profile = Path(tempfile.mkdtemp(prefix="dash-chromium-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Chromium:
        if shutil.which(CHROMIUM) is None:
            raise RuntimeError(f"{CHROMIUM} is missing (deploy/dev-deps.sh installs chromium)")
        self._proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
             f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port = await self._devtools_port()
            self._session = aiohttp.ClientSession()
            url = await self._page_url(port)
            self._ws = await self._session.ws_connect(url, max_msg_size=0)
            self._reader = asyncio.create_task(self._read())
            await self.send("Page.enable")
            await self.send("Runtime.enable")
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _devtools_port(self) -> int:
        # Chromium writes the port it picked into the profile once DevTools listens.
        marker = self._profile / "DevToolsActivePort"
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            if marker.exists():
                text = marker.read_text().split("\n")[0].strip()
                if text.isdigit():
                    return int(text)
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._proc.returncode}")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("chromium did not open its DevTools port")
            await asyncio.sleep(0.1)

    async def _page_url(self, port: int) -> str:
        assert self._session is not None
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            async with self._session.get(f"http://127.0.0.1:{port}/json/list") as res:
                targets = await res.json(content_type=None)
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("chromium has no page")
            await asyncio.sleep(0.1)

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            future = self._waiting.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)
            elif data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"].get("args", [])
                self.console.append(" ".join(str(a.get("value", a.get("description")))
                                             for a in args))
            elif data.get("method") == "Runtime.exceptionThrown":
                details = data["params"]["exceptionDetails"]
                self.console.append("exception: " + json.dumps(details.get("exception", details))
                                    [:500])
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(CDPError("browser connection closed"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command; returns its result, raises :class:`CDPError` on an error."""
        assert self._ws is not None
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        try:
            reply = await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise CDPError(f"{method}: no answer in {self.timeout} s") from None
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send("Runtime.evaluate", expression=expression,
                                 returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float | None = None) -> Any:
        """Poll until ``expression`` is truthy; returns its value."""
        deadline = asyncio.get_running_loop().time() + (timeout or self.timeout)
        error: CDPError | None = None
        while True:
            try:
                value = await self.evaluate(expression)
                if value:
                    return value
            except CDPError as exc:  # e.g. the page navigated while evaluating: retry
                error = exc
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not true in time: {expression}\nlast error: {error}"
                                     f"\nconsole: {self.console}")
            await asyncio.sleep(0.1)

    async def phone(self, width: int = 390, height: int = 844, scale: float = 2.0) -> None:
        """Emulate a phone in portrait (a recent iPhone's CSS size) with touch."""
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=scale, mobile=True)
        await self.send("Emulation.setTouchEmulationEnabled", enabled=True)

    async def goto(self, url: str) -> None:
        """Navigate and wait until the document has loaded."""
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete' && location.href !== "
                            "'about:blank'")

    async def click(self, selector: str) -> None:
        """Press and release the mouse at the centre of the element ``selector`` matches."""
        find = ("(() => { const e = document.querySelector(SELECTOR); if (!e) return null;"
                " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()")
        box = await self.wait_for(find.replace("SELECTOR", json.dumps(selector)))
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"],
                            button="left", clickCount=1)

    async def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        result = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(result["data"])

    async def close(self) -> None:
        """End the browser and remove its profile."""
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.send_str(json.dumps(
                    {"id": next(self._ids), "method": "Browser.close"})), 5)
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._session is not None:
            await self._session.close()
        if self._proc is not None:
            for stop in (None, self._proc.terminate, self._proc.kill):
                if stop is not None:
                    stop()
                try:
                    await asyncio.to_thread(self._proc.wait, 5)
                    break
                except subprocess.TimeoutExpired:
                    continue
        shutil.rmtree(self._profile, ignore_errors=True)
