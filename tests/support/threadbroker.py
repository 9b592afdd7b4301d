"""Our broker in this process, on an event loop of its own in a background thread
(fresh state, starts in milliseconds); ``python -m broker`` is support.processes.OurBroker."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from broker import Broker, BrokerConfig
from support.ports import HOST

T = TypeVar("T")


class ThreadBroker:
    """A :class:`broker.Broker` on its own event loop in a daemon thread.

    Tests talk to it over TCP like any client, and reach its in-process API through
    :meth:`call`, which runs a function on the loop thread (the API is loop-thread only).
    """

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("host", HOST)
        settings.setdefault("port", 0)
        settings.setdefault("sys_interval", 0)
        self.config = BrokerConfig(**settings)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.broker = Broker(self.config)
        self.port = 0

    def start(self) -> ThreadBroker:
        self.thread.start()
        self.run(self.broker.start())
        self.port = self.broker.port
        return self

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the broker's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the loop thread and return its result."""
        done: Future[T] = Future()

        def invoke() -> None:
            try:
                done.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed back to the test thread
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(invoke)
        return done.result(30.0)

    def stop(self) -> None:
        if self.thread.is_alive():
            try:
                self.run(self.broker.stop())
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self.thread.join(10)
        self.loop.close()
