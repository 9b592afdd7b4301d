"""A WiFi node's side of a firmware update, played with paho and urllib from the LAN: it
announces itself, takes the gateway's offer, downloads the image from the offer's URL as
ESP8266httpUpdate does, checks size and MD5, reports progress and comes back with the new
version (docs/contracts.md "Node firmware updates")."""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import urllib.request
from dataclasses import dataclass, field

from support.update_rig import UpdateRig

TIMEOUT = 60.0


@dataclass
class PlayedNode:
    """Node ``node`` in ``room`` running ``version``; ``fail`` makes the check fail."""

    rig: UpdateRig
    room: str = "attic"
    node: str = "attic_node"
    version: str = "0.3.0"
    fail: str = ""
    offers: list[dict] = field(default_factory=list)
    thread: threading.Thread | None = None
    error: BaseException | None = None
    online: threading.Event = field(default_factory=threading.Event)
    #: (md5, try) of the offer that last failed since boot: not taken again (the contract)
    last_failed: tuple[str, int] | None = None

    def topic(self, leaf: str) -> str:
        return f"home/{self.room}/{self.node}/{leaf}"

    def report(self, client, status: str, version: str, **extra: object) -> None:
        payload = json.dumps({"st": status, "v": version, **extra})
        client.publish(self.topic("firmware/progress"), payload, qos=1, retain=True)

    def come_online(self):
        """Connect (from the LAN) as the node does after every boot; returns the client."""
        client = self.rig.client(self.node, client_id=self.node, version=4)
        client.subscribe(self.topic("firmware/offer"), qos=1)
        client.publish(self.topic("announce"), json.dumps({"fw": self.version, "tr": "wifi"}),
                       qos=1, retain=True)
        self.report(client, "idle", self.version)
        self.online.set()
        return client

    def start(self) -> None:
        """Run one update in the background: wait for an offer and install it."""
        def main() -> None:
            try:
                self.rig.lan.call(self._update)
            except BaseException as exc:  # noqa: BLE001 - reported by join()
                self.error = exc

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(TIMEOUT * 2)
        assert not self.thread.is_alive(), "the played node did not finish"
        if self.error is not None:
            raise self.error

    def _next_offer(self, client) -> dict:
        while True:
            try:
                message = client.messages.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError("no offer reached the node") from None
            if not message.payload:
                continue
            offer = json.loads(message.payload)
            if offer["v"] != self.version and (offer["md5"], offer["try"]) != self.last_failed:
                return offer

    def _update(self) -> None:
        client = self.come_online()
        offer = self._next_offer(client)
        self.offers.append(offer)
        request = urllib.request.Request(offer["url"], headers={
            "User-Agent": "ESP8266-http-Update", "x-ESP8266-mode": "sketch",
            "x-ESP8266-version": self.version,
            "x-ESP8266-sketch-md5": "0" * 32})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            size = int(response.headers["Content-Length"])
            md5 = response.headers["x-MD5"]
            data = bytearray()
            reported = -10
            while chunk := response.read(1024):
                data += chunk
                pct = len(data) * 100 // size
                if pct >= reported + 10:
                    reported = pct - pct % 10
                    self.report(client, "download", offer["v"], pct=reported)
        assert size == offer["size"] == len(data) and md5 == offer["md5"]
        self.report(client, "verify", offer["v"])
        if self.fail or hashlib.md5(data).hexdigest() != md5:
            self.report(client, "failed", offer["v"], err=self.fail or "md5 mismatch")
            self.last_failed = (offer["md5"], offer["try"])
            client.disconnect()
            return
        self.report(client, "reboot", offer["v"])
        client.disconnect()
        self.version = offer["v"]
        client = self.come_online()                     # the new image's first connect
        # The gateway withdraws the offer: the node sees the empty retained payload.
        while True:
            message = client.messages.get(timeout=TIMEOUT)
            if message.topic == self.topic("firmware/offer") and not message.payload:
                break
        client.disconnect()
