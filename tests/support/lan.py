"""A LAN stranger for attack tests: a network namespace joined to this host by a veth pair.

The gateway under test listens on the host side (``Lan.host_ip``); code run through
``Lan.run`` or ``Lan.call`` opens its sockets inside the namespace, so the server sees a
peer at ``Lan.peer_ip``, a non-loopback address, exactly as a phone or laptop on the house
network would appear. Addresses come from 198.18.0.0/15, the range RFC 2544 sets aside for
testing network devices; nothing leaves this machine.

Needs root, as CI is: the ``lan`` fixture fails (never skips) when it cannot build the
namespace, so an attack test can not pass by not running.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

_CLONE_NEWNET = 0x40000000
_counter = itertools.count()
_libc = ctypes.CDLL(None, use_errno=True)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Lan:
    """One namespace with one veth pair; ``index`` keeps concurrent runs apart."""

    def __init__(self, index: int) -> None:
        tag = f"{os.getpid() % 10000}x{index}"
        self.namespace = f"gwlan{tag}"
        self._host_if = f"gwh{tag}"[:15]
        self._peer_if = f"gwp{tag}"[:15]
        # One /30 per Lan inside 198.18.0.0/15, from the pid and index, so two test runs on
        # one machine (a developer's and CI's) do not share a subnet.
        block = ((os.getpid() % 4096) * 16 + index % 16) * 4
        base = (198 << 24) | (18 << 16) | (block & 0x1FFFF)
        self.host_ip = _dotted(base + 1)
        self.peer_ip = _dotted(base + 2)

    def up(self) -> None:
        _ip("netns", "add", self.namespace)
        try:
            _ip("link", "add", self._host_if, "type", "veth", "peer", "name", self._peer_if)
            _ip("link", "set", self._peer_if, "netns", self.namespace)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self._host_if)
            _ip("link", "set", self._host_if, "up")
            inside = ("-n", self.namespace)
            _ip(*inside, "addr", "add", f"{self.peer_ip}/30", "dev", self._peer_if)
            _ip(*inside, "link", "set", self._peer_if, "up")
            _ip(*inside, "link", "set", "lo", "up")
        except Exception:
            self.down()
            raise

    def down(self) -> None:
        subprocess.run(["ip", "link", "del", self._host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)

    def run(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        """Runs a command inside the namespace (``subprocess.run`` keywords apply)."""
        return subprocess.run(["ip", "netns", "exec", self.namespace, *argv], **kwargs)

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen:
        """Starts a command inside the namespace."""
        return subprocess.Popen(["ip", "netns", "exec", self.namespace, *argv], **kwargs)

    def enter(self) -> None:
        """Moves the calling thread (only it) into the namespace: its new sockets are the
        stranger's. For threads of their own, such as an event loop's (support.lanloop)."""
        fd = os.open(f"/run/netns/{self.namespace}", os.O_RDONLY)
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
        finally:
            os.close(fd)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Calls ``fn`` in a thread that has joined the namespace.

        Sockets made during the call belong to the namespace and keep working afterwards
        from any thread, so a paho client whose ``connect`` ran here can ``loop_start``.
        """
        result: list[Any] = []
        error: list[BaseException] = []

        def enter_and_call() -> None:
            try:
                self.enter()
                result.append(fn(*args, **kwargs))
            except BaseException as exc:  # handed back to the caller's thread
                error.append(exc)

        thread = threading.Thread(target=enter_and_call, daemon=True)
        thread.start()
        thread.join()
        if error:
            raise error[0]
        return result[0]


def _dotted(value: int) -> str:
    return ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def _rig() -> Iterator[Lan]:
    rig = Lan(next(_counter))
    rig.up()
    try:
        yield rig
    finally:
        rig.down()


@pytest.fixture
def lan() -> Iterator[Lan]:
    """A fresh namespace per test: the stranger's side of the house network."""
    yield from _rig()


@pytest.fixture
def other_lan() -> Iterator[Lan]:
    """A second stranger at another address, routed to every host address (so it reaches a
    server on ``lan.host_ip`` too): the neighbour an attacker must not lock out."""
    for rig in _rig():
        _ip("-n", rig.namespace, "route", "add", "default", "via", rig.host_ip)
        yield rig
