"""The dashboard's System update card in Debian's headless Chromium, on RAUC's real service
(support.rauc_system): the card shows the running slot, a bundle chosen in its file field
is uploaded, installed into slot B and restarted into (the restart command is recorded);
after a boot that falls back to slot A the card says the update was rolled back and why.
Loopback is an administrator here (as on the appliance's own machine)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dash_cdp import Chromium
from support.rauc_system import PLAIN, Boots, RaucSystem, make_bundle, small_rootfs

from broker import Broker, BrokerConfig
from gateway.dashboard import Dashboard
from gateway.dashboard.update_routes import enable_updates
from gateway.system.update_rauc import Rauc


def test_the_update_card_installs_a_bundle_and_says_why_it_was_rolled_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = make_bundle(small_rootfs(tmp_path / "rootfs"), tmp_path / "out/update.raucb",
                         tmp_path / "cache", **PLAIN)
    system = RaucSystem(tmp_path / "rauc", tmp_path / "cache/update-keys/cert.pem").start("A")
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", system.address)
    boots, rebooted = Boots(), tmp_path / "rebooted"

    async def scenario() -> None:
        broker = Broker(BrokerConfig(host="127.0.0.1", port=0, sys_interval=0))
        await broker.start()
        dashboard = Dashboard(broker, 0, "127.0.0.1", tmp_path / "data")
        enable_updates(dashboard, {}, tmp_path / "data", Rauc(system.conf),
                       ["touch", str(rebooted)], boots)
        await dashboard.start()
        try:
            async with Chromium(timeout=60) as page:
                await page.goto(f"http://127.0.0.1:{dashboard.port}/")
                await page.wait_for("!document.getElementById('update').hidden && document"
                                    ".getElementById('update-running').textContent"
                                    ".includes('from slot A')")
                await page.evaluate("window.confirm = () => true")
                document = await page.send("DOM.getDocument")
                field = await page.send("DOM.querySelector", nodeId=document["root"]["nodeId"],
                                        selector="#update-file")
                await page.send("DOM.setFileInputFiles", files=[str(bundle)],
                                nodeId=field["nodeId"])
                said = "document.getElementById('update-status').textContent"
                await page.wait_for(f"{said}.includes('is installed in slot B')", 120)
                assert rebooted.exists() and system.primary() == "B"
                # Slot B never came up healthy: the boot loader falls back to A.
                (system.path / "bootenv/state.B").write_text("bad\n")
                await asyncio.to_thread(boots.reboot, system)
                await page.goto(f"http://127.0.0.1:{dashboard.port}/")
                text = await page.wait_for(f"{said}.includes('rolled back') && {said}", 60)
                assert text.startswith("The update to ")
                assert text.endswith("the new system did not start"), text
                assert not [m for m in page.console if "rror" in m], page.console
        finally:
            await dashboard.stop()
            await broker.stop()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 300))
    finally:
        system.stop()
