"""The gateway's update service (gateway/runtime/node_updates.py) on the real broker engine:
offers, their withdrawal, tries after a failure, Home Assistant's update state, and offers
the gateway did not make. Timers run on a fake clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gw_helpers import EngineBus
from support.clock import TimerClock
from support.node_images import md5_hex, write_image

from gateway.node_firmware import FirmwareStore
from gateway.runtime.node_updates import NodeUpdates, offer_payload

BASE = "http://198.18.0.1:8266"
OFFER = "home/attic/attic_node/firmware/offer"
STATE = "home/attic/attic_node/firmware/state"
PROGRESS = "home/attic/attic_node/firmware/progress"
INSTALL = "home/attic/attic_node/firmware/install"
ANNOUNCE = "home/attic/attic_node/announce"


class Service:
    """An update service on an EngineBus with a fake clock; the test plays the node."""

    def __init__(self, tmp_path: Path, known: dict | None = None,
                 retained: dict[str, bytes] | None = None, guard_offers: bool = True) -> None:
        self.dir = tmp_path / "firmware"
        self.images = {"0.4.0": write_image(self.dir, "0.4.0")}
        self.bus = EngineBus()
        for topic, payload in (retained or {}).items():
            self.bus.inject(topic, payload, retain=True)
        self.clock = TimerClock()
        self.store = FirmwareStore(self.dir, [])
        self.updates = NodeUpdates(self.bus, "home", self.store, BASE,
                                   call_later=self.clock.call_later,
                                   guard_offers=guard_offers)
        self.updates.start(known)

    def node(self, topic: str, report: dict, retain: bool = True) -> None:
        self.bus.inject(topic, json.dumps(report).encode(), retain=retain)

    def retained(self, topic: str) -> bytes | None:
        got: list[bytes] = []

        def keep(message: object) -> None:
            if message.retain and message.topic == topic:   # type: ignore[attr-defined]
                got.append(bytes(message.payload))          # type: ignore[attr-defined]

        self.bus.broker.subscribe(topic, keep).cancel()
        return got[0] if got else None

    def offer(self) -> dict | None:
        payload = self.retained(OFFER)
        return json.loads(payload) if payload else None

    def state(self) -> dict:
        return json.loads(self.retained(STATE) or b"null")


@pytest.fixture
def svc(tmp_path: Path) -> Service:
    service = Service(tmp_path)
    service.node(ANNOUNCE, {"fw": "0.3.0", "tr": "wifi"})
    service.node(PROGRESS, {"st": "idle", "v": "0.3.0"})
    return service


def test_state_of_a_known_node_is_published_at_start(tmp_path: Path) -> None:
    service = Service(tmp_path, known={("attic", "attic_node"): "0.3.0"})
    assert service.state() == {"installed_version": "0.3.0", "latest_version": "0.4.0",
                               "title": "Sensor node firmware", "in_progress": False,
                               "update_percentage": None}


def test_install_offers_the_newest_image(svc: Service) -> None:
    assert svc.offer() is None
    svc.bus.inject(INSTALL, b"install")
    data = svc.images["0.4.0"]
    assert svc.offer() == {"v": "0.4.0", "md5": md5_hex(data), "size": len(data),
                           "url": f"{BASE}/firmware/node-0.4.0.bin", "try": 1}
    assert svc.state()["in_progress"] is True
    assert svc.state()["latest_version"] == "0.4.0"


def test_progress_then_the_new_version_withdraws_the_offer(svc: Service) -> None:
    svc.bus.inject(INSTALL, b"install")
    for pct in (0, 10, 42):
        svc.node(PROGRESS, {"st": "download", "v": "0.4.0", "pct": pct})
        assert svc.state()["update_percentage"] == pct
    svc.node(PROGRESS, {"st": "verify", "v": "0.4.0"})
    svc.node(PROGRESS, {"st": "reboot", "v": "0.4.0"})
    assert svc.offer() is not None and svc.state()["in_progress"] is True
    svc.node(ANNOUNCE, {"fw": "0.4.0", "tr": "wifi"})
    svc.node(PROGRESS, {"st": "idle", "v": "0.4.0"})
    assert svc.retained(OFFER) is None            # withdrawn: the empty retained payload
    assert (OFFER, b"", True) in svc.bus.published
    assert svc.state() == {"installed_version": "0.4.0", "latest_version": "0.4.0",
                           "title": "Sensor node firmware", "in_progress": False,
                           "update_percentage": None}


def test_install_after_a_failure_is_a_new_try(svc: Service) -> None:
    svc.bus.inject(INSTALL, b"install")
    svc.bus.inject(INSTALL, b"install")           # asked twice: still the first try
    assert svc.offer()["try"] == 1
    svc.node(PROGRESS, {"st": "download", "v": "0.4.0", "pct": 20})
    svc.node(PROGRESS, {"st": "failed", "v": "0.4.0", "err": "md5 mismatch"})
    assert svc.state()["in_progress"] is False
    assert svc.state()["installed_version"] == "0.3.0"
    svc.bus.inject(INSTALL, b"install")
    assert svc.offer()["try"] == 2
    assert svc.state()["in_progress"] is True


def test_a_download_without_progress_fails_after_the_stall_timeout(svc: Service) -> None:
    svc.bus.inject(INSTALL, b"install")
    svc.node(PROGRESS, {"st": "download", "v": "0.4.0", "pct": 30})
    svc.clock.advance(299)
    svc.node(PROGRESS, {"st": "download", "v": "0.4.0", "pct": 40})
    svc.clock.advance(299)
    assert svc.state()["in_progress"] is True     # each report restarts the wait
    svc.clock.advance(2)
    assert svc.state()["in_progress"] is False
    svc.bus.inject(INSTALL, b"install")
    assert svc.offer()["try"] == 2


def test_nothing_to_offer(tmp_path: Path) -> None:
    service = Service(tmp_path)
    service.node(ANNOUNCE, {"fw": "0.4.0", "tr": "wifi"})
    service.bus.inject(INSTALL, b"install")       # runs the newest already
    assert service.offer() is None
    assert service.state()["in_progress"] is False
    (service.dir / "node-0.4.0.bin").unlink()
    service.bus.inject("home/hall/hall_node/firmware/install", b"install")
    assert service.retained("home/hall/hall_node/firmware/offer") is None


def test_a_node_that_never_reported_progress_gets_no_offer(tmp_path: Path) -> None:
    # Firmware before the updater: it would never answer, the update never end.
    service = Service(tmp_path)
    service.node(ANNOUNCE, {"fw": "0.3.0", "tr": "wifi"})
    service.bus.inject(INSTALL, b"install")
    assert service.offer() is None and service.state()["in_progress"] is False
    service.node(PROGRESS, {"st": "idle", "v": "0.3.0"})
    service.bus.inject(INSTALL, b"install")
    assert service.offer()["v"] == "0.4.0"


def test_only_the_install_word(svc: Service) -> None:
    svc.bus.inject(INSTALL, b"please")
    svc.bus.inject("home/Attic/../firmware/install", b"install")
    assert svc.offer() is None


def test_a_retained_install_is_cleared_not_obeyed_at_start(tmp_path: Path) -> None:
    # Published retained by mistake: obeying it at every restart would offer again.
    service = Service(tmp_path, retained={INSTALL: b"install",
                                          ANNOUNCE: b'{"fw":"0.3.0","tr":"wifi"}'})
    assert service.retained(INSTALL) is None
    assert service.offer() is None


def test_a_newer_image_shows_in_the_state_after_a_rescan(svc: Service) -> None:
    write_image(svc.dir, "0.5.0")
    assert svc.state()["latest_version"] == "0.4.0"
    svc.clock.advance(30)
    assert svc.state()["latest_version"] == "0.5.0"
    svc.bus.inject(INSTALL, b"install")
    assert svc.offer()["v"] == "0.5.0"


def test_an_offer_the_gateway_did_not_make_is_withdrawn(svc: Service) -> None:
    forged = {"v": "6.6.6", "md5": "0" * 32, "size": 9999, "url": "http://evil/x.bin",
              "try": 1}
    svc.node(OFFER, forged)
    assert svc.retained(OFFER) is None
    svc.bus.inject(INSTALL, b"install")
    ours = svc.retained(OFFER)
    svc.node(OFFER, forged)
    assert svc.retained(OFFER) == ours            # put back


def test_on_its_own_broker_the_gateway_leaves_offers_the_broker_let_through(
        tmp_path: Path) -> None:
    # The embedded broker refuses offers from everyone but the machine itself.
    forged = {"v": "0.9.0", "md5": "1" * 32, "size": 9999, "url": "http://x/y", "try": 1}
    stale = {**forged, "v": "0.8.0"}
    service = Service(tmp_path, guard_offers=False, retained={
        "home/hall/hall_node/firmware/offer": json.dumps(stale).encode()})
    assert service.retained("home/hall/hall_node/firmware/offer") is None  # stale: withdrawn
    service.node(OFFER, forged)
    assert service.offer() == forged


def test_the_gateways_own_offer_survives_its_restart(tmp_path: Path) -> None:
    first = Service(tmp_path)
    first.node(ANNOUNCE, {"fw": "0.3.0", "tr": "wifi"})
    first.node(PROGRESS, {"st": "idle", "v": "0.3.0"})
    first.bus.inject(INSTALL, b"install")
    first.node(PROGRESS, {"st": "failed", "v": "0.4.0", "err": "no space"})
    kept = {topic: first.retained(topic) for topic in (OFFER, PROGRESS, ANNOUNCE)}
    again = Service(tmp_path, retained=kept)       # the broker kept what was retained
    assert again.retained(OFFER) == kept[OFFER]
    again.bus.inject(INSTALL, b"install")
    assert again.offer()["try"] == 2              # the failure was seen in the progress
    # An offer naming an image the store does not hold is not adopted.
    stale = offer_payload(first.store.newest(), "http://old-address:8266", 1)
    third = Service(tmp_path / "3", retained={OFFER: stale})
    assert third.retained(OFFER) is None


def test_republish_after_the_broker_lost_everything(svc: Service) -> None:
    svc.bus.inject(INSTALL, b"install")
    offer, state = svc.retained(OFFER), svc.retained(STATE)
    svc.bus.reconnect()
    svc.updates.republish()
    assert svc.retained(OFFER) == offer and svc.retained(STATE) == state


def test_a_forgotten_node_leaves_no_firmware_topics(svc: Service) -> None:
    svc.bus.inject(INSTALL, b"install")
    assert svc.offer() is not None and svc.retained(PROGRESS) is not None
    svc.bus.inject(ANNOUNCE, b"", retain=True)      # what `gateway node forget` publishes
    for topic in (OFFER, STATE, PROGRESS):
        assert svc.retained(topic) is None, topic
    assert ("attic", "attic_node") not in svc.updates.nodes


def test_with_mosquitto_as_the_broker_forged_offers_are_replaced(
        tmp_path: Path, mosquitto) -> None:  # noqa: ANN001 - the conftest fixture
    """An external broker cannot be told that offers are the gateway's (its ACL could, if
    set up so): the service replaces an offer it did not make, live, over the paho bus."""
    from gpiozero.pins.mock import MockFactory
    from gw_helpers import RunningGateway
    from support.pahoclient import PahoClient

    from gateway.hardware import Hardware

    write_image(tmp_path / "data" / "firmware", "0.4.0")
    config = '[serial]\nenabled = false\n[nodes]\nfirmware_port = 0\n' \
             'firmware_url = "http://192.0.2.7:8266"\n'
    with RunningGateway(config, tmp_path / "data", Hardware(simulated=True,
                        pin_factory=MockFactory()),
                        broker_url=f"mqtt://127.0.0.1:{mosquitto.port}"):
        node = PahoClient(mosquitto.port, client_id="attic_node")
        node.connect()
        node.subscribe(OFFER, qos=1)
        node.publish(ANNOUNCE, '{"fw":"0.3.0","tr":"wifi"}', qos=1, retain=True)
        node.publish(PROGRESS, '{"st":"idle","v":"0.3.0"}', qos=1, retain=True)
        attacker = PahoClient(mosquitto.port)
        attacker.connect()
        attacker.publish(OFFER, '{"v":"6.6.6","md5":"' + "0" * 32 + '","size":1,"url":"x",'
                         '"try":1}', qos=1, retain=True)
        assert json.loads(node.get().payload)["v"] == "6.6.6"   # the broker let it through
        assert node.get().payload == b""                        # and the gateway took it back
        attacker.publish(INSTALL, "install", qos=1)
        offer = json.loads(node.get().payload)
        assert offer["v"] == "0.4.0"
        assert offer["url"] == "http://192.0.2.7:8266/firmware/node-0.4.0.bin"
        attacker.disconnect()
        node.disconnect()


def test_a_node_back_with_another_version_after_installing_is_not_offered_it_again(
        svc: Service) -> None:
    # The image was not the version its name says (or the boot loader kept the old one):
    # a retained offer would make the node install it again at every restart, for ever.
    svc.bus.inject(INSTALL, b"install")
    svc.node(PROGRESS, {"st": "download", "v": "0.4.0", "pct": 100})
    svc.node(PROGRESS, {"st": "verify", "v": "0.4.0"})
    svc.node(PROGRESS, {"st": "reboot", "v": "0.4.0"})
    svc.node(ANNOUNCE, {"fw": "0.3.0", "tr": "wifi"})
    svc.node(PROGRESS, {"st": "idle", "v": "0.3.0"})
    assert svc.retained(OFFER) is None
    assert svc.state()["in_progress"] is False
    assert svc.state()["installed_version"] == "0.3.0"
    entry = svc.updates.nodes[("attic", "attic_node")]
    assert entry.failed and "restarted into firmware 0.3.0, not 0.4.0" in entry.last_error
    # The reason where the dashboard and `gateway node update` look for a node's failure.
    assert json.loads(svc.retained(PROGRESS) or b"{}") == {
        "st": "failed", "v": "0.4.0",
        "err": "restarted into firmware 0.3.0, not 0.4.0: is the image the version its name "
               "says?"}
    svc.bus.inject(INSTALL, b"install")             # asking again is a new attempt
    assert svc.offer()["try"] == 2


def test_a_node_idle_before_it_began_keeps_its_offer(svc: Service) -> None:
    # Its first report after connecting is idle with its old version: not a failure.
    svc.bus.inject(INSTALL, b"install")
    svc.node(PROGRESS, {"st": "idle", "v": "0.3.0"})
    assert svc.offer() is not None and svc.state()["in_progress"] is True


def test_a_node_newer_than_every_image_is_up_to_date_not_downgraded(svc: Service) -> None:
    # Flashed by cable with a newer build than the gateway keeps (0.4.0 here).
    svc.node(ANNOUNCE, {"fw": "0.10.0", "tr": "wifi"})
    svc.node(PROGRESS, {"st": "idle", "v": "0.10.0"})
    assert svc.state()["installed_version"] == "0.10.0"
    assert svc.state()["latest_version"] == "0.10.0"
    svc.bus.inject(INSTALL, b"install")
    assert svc.offer() is None
    assert svc.state()["in_progress"] is False
