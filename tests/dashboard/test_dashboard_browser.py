"""The dashboard in a real browser: Debian's headless Chromium, at phone size, on a running
gateway (``gateway.serve.run`` with simulated sensors and gpiozero's MockFactory).

It sees a simulated DHT's temperature change live, a door contact flip when its mock pin is
driven, switches the hall light from the page and sees the relay's mock pin follow (and the
page show the confirmed state), switches the plots to 7 days, and saves a phone-size
screenshot that must not be blank. On a broker with an ACL, it lists an ESP8266 node with
its firmware, offers no Update button to a read-only user, and lets a user who may write
the install topic start an update and follow its progress and failure live. With DASHBOARD_SCREENSHOT=path the screenshot is also
written there (``make dashboard-screenshot`` makes docs/dashboard.png this way).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from pathlib import Path

from dash_cdp import Chromium
from dash_helpers import (
    PASSWORD,
    USER,
    free_port,
    save_small_png,
    screenshot_problems,
    wait_listening,
    write_users,
)
from gpiozero.pins.mock import MockFactory

from broker import Broker, BrokerConfig
from gateway.config import parse_config
from gateway.dashboard import Dashboard
from gateway.dashboard.history import HistoryStore
from gateway.hardware import Hardware
from gateway.serve import RunOptions, run

CONFIG = """
[gateway]
name = "gateway"

[[room.living_room]]
driver = "dht22"
pin = 4
interval = 2

[[room.hall]]
driver = "contact"
name = "front door"
pin = 22
debounce = 0
device_class = "door"

[[room.hall]]
driver = "relay"
name = "light"
pin = 23

[[room.kitchen]]
driver = "motion"
pin = 27
debounce = 0
"""

PHONE = (390, 844, 2.0)  # CSS pixels and device pixel ratio of a common phone
TEMPERATURE = "home/living_room/temperature"
DOOR = "home/hall/front_door"
LIGHT = "home/hall/light"


def row(topic: str, inner: str = "") -> str:
    """A CSS selector for the row of ``topic`` (ids hold slashes; attributes are easier)."""
    return f'[data-topic="{topic}"] {inner}'.strip()


def text_of(topic: str, part: str = ".value") -> str:
    """JavaScript giving the text of one part of a row, or null."""
    selector = json.dumps(row(topic, part))
    return f"(document.querySelector({selector}) || {{}}).textContent || null"


def test_dashboard_on_a_phone_follows_the_gateway(tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(_scenario(tmp_path), 300))


async def _scenario(tmp_path: Path) -> None:
    factory = MockFactory()
    hardware = Hardware(simulated=True, pin_factory=factory, seed=3)
    web_port = free_port()
    options = RunOptions(host="127.0.0.1", port=free_port(), data_dir=str(tmp_path / "data"),
                         dashboard_port=web_port, dashboard_host="127.0.0.1")
    _seed_history(tmp_path / "data")
    stop = asyncio.Event()
    gateway = asyncio.create_task(run(parse_config(CONFIG), options, stop, hardware))
    try:
        await wait_listening(web_port)
        async with Chromium() as page:
            await page.phone(*PHONE)
            await page.goto(f"http://127.0.0.1:{web_port}/")
            await page.wait_for("document.body.dataset.live === 'yes'")
            await _values_change_live(page, factory)
            await _relay_follows_the_page(page, factory)
            await _plots(page)
            await page.evaluate("window.scrollTo(0, 0)")
            await asyncio.sleep(0.5)  # let the last frame paint
            png = await page.screenshot()
            errors = [c for c in page.console if c.startswith("exception")]
            assert not errors, errors
        width, height, scale = PHONE
        assert screenshot_problems(png, (int(width * scale), int(height * scale))) == []
        (tmp_path / "dashboard.png").write_bytes(png)
        target = os.environ.get("DASHBOARD_SCREENSHOT")
        if target:
            assert save_small_png(png, Path(target)) < 200_000
    finally:
        stop.set()
        await asyncio.wait_for(gateway, 60)
        factory.reset()


def _seed_history(data_dir: Path) -> None:
    """A day from an earlier run, every 5 minutes, so the plots have curves to show."""
    store = HistoryStore(data_dir / "history.sqlite3")
    store.open()
    now = time.time()
    day = 2 * math.pi / 86_400
    samples = []
    for age in range(86_400 - 300, 0, -300):
        t = int((now - age) * 1000)
        samples.append((t, TEMPERATURE, round(21 + 2 * math.sin(age * day), 1)))
        samples.append((t, "home/living_room/humidity", round(45 + 8 * math.cos(age * day), 1)))
        samples.append((t, "home/kitchen/motion", float(age % 7200 < 900)))
    store.write_batch(samples, compact=False)
    store.close()


async def _values_change_live(page: Chromium, factory: MockFactory) -> None:
    # The simulated DHT reads every 2 s: its value appears with unit and age, then changes.
    first = await page.wait_for(
        f"(() => {{ const t = {text_of(TEMPERATURE)}; return t && t.endsWith('°C') && t; }})()")
    await page.wait_for(f"/ago$/.test({text_of(TEMPERATURE, '.age')})")
    await page.wait_for(f"{text_of(TEMPERATURE)} !== {json.dumps(first)}", timeout=90)
    # The door contact: shown as open/closed, flips when its pin is driven.
    before = await page.wait_for(text_of(DOOR))
    assert before in ("Open", "Closed"), before
    pin = factory.pin(22)
    if pin.state:
        pin.drive_low()
    else:
        pin.drive_high()
    after = "Closed" if before == "Open" else "Open"
    await page.wait_for(f"{text_of(DOOR)} === {json.dumps(after)}")
    # Motion is motion/clear, not on/off.
    assert await page.wait_for(text_of("home/kitchen/motion")) in ("Motion", "Clear")


async def _relay_follows_the_page(page: Chromium, factory: MockFactory) -> None:
    pin = factory.pin(23)
    toggle = row(LIGHT, ".toggle")
    checked = f"document.querySelector({json.dumps(toggle)}).getAttribute('aria-checked')"
    await page.wait_for(f"{checked} === 'false'")
    assert not pin.state
    for wanted in (True, False, True):
        await page.click(toggle)
        await _until(lambda w=wanted: bool(pin.state) == w, f"relay pin {wanted}")
        # The page shows the state the gateway echoed, and stops waiting for it.
        await page.wait_for(f"{checked} === {json.dumps(str(wanted).lower())} && "
                            f"!document.querySelector({json.dumps(toggle)})"
                            ".classList.contains('pending')")


async def _plots(page: Chromium) -> None:
    plot = json.dumps(row(TEMPERATURE, "svg.plot"))
    await page.wait_for(f"!!document.querySelector({plot})")
    # The day stored by the earlier run is one line of many points.
    await page.wait_for(f"(document.querySelector({plot}).querySelector('path.line') || "
                        "{getAttribute: () => ''}).getAttribute('d').split('L').length > 200")
    await page.click('.range button[data-range="7d"]')
    await page.wait_for("document.querySelector('.range button[data-range=\"7d\"]')"
                        ".getAttribute('aria-pressed') === 'true'")
    await page.wait_for(f"document.querySelector({plot}) && document.querySelector({plot})"
                        ".getAttribute('aria-label').includes('7 days')")
    await page.click('.range button[data-range="24h"]')
    await page.wait_for(f"document.querySelector({plot}) && document.querySelector({plot})"
                        ".getAttribute('aria-label').includes('24 hours')")
    health = await page.wait_for("document.getElementById('health-list').textContent")
    assert "Broker clients" in health and "Disk free" in health


async def _until(predicate, what: str, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"not reached in time: {what}"
        await asyncio.sleep(0.05)


def test_phone_signs_in_with_a_broker_user(tmp_path: Path) -> None:
    """As from a phone on the network (loopback not trusted): the page asks for a login,
    refuses a wrong password, and shows the house after the right one."""
    asyncio.run(asyncio.wait_for(_sign_in(tmp_path), 180))


async def _sign_in(tmp_path: Path) -> None:
    broker = Broker(BrokerConfig(host="127.0.0.1", port=0))
    await broker.start()
    broker.publish(TEMPERATURE, "21.4", retain=True)
    dashboard = Dashboard(broker, 0, "127.0.0.1", tmp_path / "data",
                          write_users(tmp_path / "passwd"), trust_loopback=False)
    await dashboard.start()
    try:
        async with Chromium() as page:
            await page.phone(*PHONE)
            await page.goto(f"http://127.0.0.1:{dashboard.port}/")
            await page.wait_for("location.pathname === '/login'")
            await _log_in(page, USER, "wrong", "location.search === '?failed=1' && "
                          "!document.getElementById('failed').hidden")
            await _log_in(page, USER, PASSWORD)
            await page.wait_for(f"{text_of(TEMPERATURE)} === '21.4'")
            # Signed in from the network, the page offers to sign out.
            await page.wait_for("!document.getElementById('logout').hidden")
    finally:
        await dashboard.stop()
        await broker.stop()


async def _log_in(page: Chromium, user: str, password: str,
                  landed: str = "location.pathname === '/'") -> None:
    """Fill in and send the login form the page shows."""
    await page.wait_for("location.pathname === '/login' && document.readyState === 'complete'")
    await page.evaluate(
        "(() => { const f = document.forms[0];"
        f" f.username.value = {json.dumps(user)};"
        f" f.password.value = {json.dumps(password)}; }})()")
    await page.click("form button[type=submit]")
    await page.wait_for(f"{landed} && document.readyState === 'complete'")


NODE = "home/attic/attic_node"
READER = "bob"


def _firmware_state(installed: str = "0.3.0", in_progress: bool = False,
                    percentage: int | None = None) -> str:
    """The retained state the gateway's update service publishes (docs/contracts.md)."""
    return json.dumps({"installed_version": installed, "latest_version": "0.4.0",
                       "title": "Sensor node firmware", "in_progress": in_progress,
                       "update_percentage": percentage})


def node_part(inner: str) -> str:
    """JavaScript giving the text of one part of the attic node's row, or null."""
    selector = json.dumps(f'[data-node="attic/attic_node"] {inner}')
    return f"(document.querySelector({selector}) || {{}}).textContent || null"


def test_a_node_is_updated_from_the_phone(tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(_update_a_node(tmp_path), 240))


async def _update_a_node(tmp_path: Path) -> None:
    passwd = write_users(tmp_path / "passwd", {USER: PASSWORD, READER: PASSWORD})
    (tmp_path / "acl").write_text(f"user {USER}\ntopic readwrite home/#\n\n"
                                  f"user {READER}\ntopic read home/#\n")
    broker = Broker(BrokerConfig(listeners=[{
        "name": "lan", "kind": "tcp", "host": "127.0.0.1", "port": 0,
        "password_file": str(passwd), "acl_file": str(tmp_path / "acl")}]))
    await broker.start()
    broker.publish(f"{NODE}/announce", '{"fw":"0.3.0","tr":"wifi","dht":1}', retain=True)
    broker.publish(f"{NODE}/status", "online", retain=True)
    broker.publish(f"{NODE}/firmware/state", _firmware_state(), retain=True)
    installs: list[bytes] = []
    broker.subscribe(f"{NODE}/firmware/install", lambda msg: installs.append(msg.payload))
    dashboard = Dashboard(broker, 0, "127.0.0.1", tmp_path / "data", passwd,
                          trust_loopback=False)
    await dashboard.start()
    try:
        async with Chromium() as page:
            await page.phone(*PHONE)
            await page.goto(f"http://127.0.0.1:{dashboard.port}/")
            # A read-only user sees the node and its firmware, and no button to press.
            await _log_in(page, READER, PASSWORD)
            await page.wait_for(f"{node_part('.firmware')} === "
                                "'Firmware 0.3.0, 0.4.0 available'")
            assert await page.evaluate(
                "document.querySelectorAll('#nodes button').length") == 0
            await page.click("#logout button")
            await _log_in(page, USER, PASSWORD)
            button = '[data-node="attic/attic_node"] button.update'
            await page.wait_for(f"document.querySelector('{button}') && "
                                f"!document.querySelector('{button}').disabled")
            await page.click(button)
            await _until(lambda: installs == [b"install"], "install published")
            # The gateway begins: progress arrives live and the button waits.
            broker.publish(f"{NODE}/firmware/state", _firmware_state(in_progress=True,
                                                                     percentage=42), retain=True)
            await page.wait_for(f"{node_part('.progress-text')} === 'Updating: 42 %' && "
                                "document.querySelector('[data-node=\"attic/attic_node\"] "
                                "progress').value === 42")
            assert await page.evaluate(f"document.querySelector('{button}').disabled")
            # The node fails: the reason is shown and the button is back for another try.
            broker.publish(f"{NODE}/firmware/progress",
                           '{"st":"failed","v":"0.4.0","err":"md5 mismatch"}', retain=True)
            broker.publish(f"{NODE}/firmware/state", _firmware_state(), retain=True)
            await page.wait_for(f"{node_part('.failure')} === "
                                "'Update to 0.4.0 failed: md5 mismatch'")
            await page.wait_for(f"!document.querySelector('{button}').disabled && "
                                f"{node_part('progress')} === null")
            errors = [c for c in page.console if c.startswith("exception")]
            assert not errors, errors
    finally:
        await dashboard.stop()
        await broker.stop()
