"""SIGHUP reloads the password and ACL files without dropping connected clients.

The broker is configured the way the gateway configures it (a listener with password_file
and acl_file) and SIGHUP calls ``Broker.reload``, as `gateway broker` installs it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from broker.auth.passwords import PasswordFile

from .harness import Client, RunningBroker


def test_sighup_reload_keeps_clients(tmp_path: Path) -> None:
    users = PasswordFile()
    users.set_password("alice", "wonder", iterations=1000)
    users.set_password("bob", "builder", iterations=1000)
    users.save(tmp_path / "passwd")
    acl = tmp_path / "acl"
    acl.write_text("user alice\ntopic home/#\nuser bob\ntopic read home/#\n")
    listener = {
        "name": "lan", "kind": "tcp", "allow_anonymous": False,
        "password_file": str(tmp_path / "passwd"), "acl_file": str(acl),
    }

    async def scenario() -> None:
        # The broker runs on this (main) thread's loop: signal handlers need the main thread.
        loop = asyncio.get_running_loop()
        running = await RunningBroker(listeners=[listener]).start()
        reloads: asyncio.Queue[bool] = asyncio.Queue()
        loop.add_signal_handler(
            signal.SIGHUP, lambda: reloads.put_nowait(running.broker.reload())
        )
        port = running.ports["lan"]
        run = asyncio.to_thread
        alice = Client(port, username="alice", password="wonder")
        bob = Client(port, username="bob", password="builder")
        try:
            assert await run(alice.connect) == 0 and await run(bob.connect) == 0
            assert await run(bob.subscribe, "home/#", 1) == [1]
            await run(alice.publish, "home/a", b"1")
            assert await run(bob.expect, "home/a") == b"1"

            # new rules: bob may read the garden only; carol is a new user
            acl.write_text("user alice\ntopic home/#\nuser bob\ntopic read garden/#\n")
            users.set_password("carol", "c", iterations=1000)
            users.save(tmp_path / "passwd")
            os.kill(os.getpid(), signal.SIGHUP)
            assert await asyncio.wait_for(reloads.get(), 30) is True

            # bob is still connected, but his old subscription no longer delivers home/...
            await run(alice.publish, "home/b", b"2")
            await run(bob.expect_nothing)
            assert await run(bob.subscribe, "home/#", 1) == [0x80]
            assert await run(bob.subscribe, "garden/#", 1) == [1]
            await run(alice.publish, "garden/x", b"3")  # alice may not write there: dropped
            await run(bob.expect_nothing)
            carol = Client(port, username="carol", password="c")
            assert await run(carol.connect) == 0
            await run(carol.close)

            # a broken file is not loaded: the previous rules stay
            acl.write_text("user bob\ntopic read garden/#/broken\n")
            os.kill(os.getpid(), signal.SIGHUP)
            assert await asyncio.wait_for(reloads.get(), 30) is False
            assert await run(bob.subscribe, "garden/+", 1) == [1]
            assert bob.client.is_connected() and alice.client.is_connected()
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            await run(alice.close)
            await run(bob.close)
            await running.stop()

    asyncio.run(scenario())
