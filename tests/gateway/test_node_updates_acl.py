"""Who may start an update and who may offer one, attacked from the LAN (issue 15.2): a
node installs whatever a retained offer points it at, so only the gateway may publish
offers (and the update state), whatever the ACL grants; `install` follows the ACL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.lan import Lan
from support.pahoclient import PahoClient
from support.update_rig import UpdateRig, update_rig
from support.wait import wait_until

from broker.engine.policy import AllowAll, ClientInfo
from gateway.runtime.gateway_topics import GatewayOnlyTopics, firmware_only_topics

OFFER = "home/attic/attic_node/firmware/offer"
INSTALL = "home/attic/attic_node/firmware/install"
STATE = "home/attic/attic_node/firmware/state"
PROGRESS = "home/attic/attic_node/firmware/progress"
FORGED = json.dumps({"v": "6.6.6", "md5": "0" * 32, "size": 300000,
                     "url": "http://198.18.255.254/evil.bin", "try": 1})
NOT_AUTHORIZED = 0x87


@pytest.fixture
def rig(lan: Lan, tmp_path: Path) -> Iterator[UpdateRig]:
    with update_rig(lan, tmp_path) as running:
        yield running


class Acks:
    """PUBACK reason codes a paho MQTT 5 client received, by message id."""

    def __init__(self, client: PahoClient) -> None:
        self.codes: dict[int, int] = {}
        self._lock = threading.Lock()

        def on_publish(_c: object, _u: object, mid: int, reason: object, _p: object) -> None:
            with self._lock:
                self.codes[mid] = getattr(reason, "value", reason)

        client.client.on_publish = on_publish

    def send(self, client: PahoClient, topic: str, payload: str, retain: bool = False) -> int:
        info = client.client.publish(topic, payload, qos=1, retain=retain)
        wait_until(lambda: info.mid in self.codes, what=f"PUBACK for {topic}")
        return self.codes[info.mid]


@pytest.fixture
def node(rig: UpdateRig) -> Iterator[PahoClient]:
    """The attic node, online and listening to its offer."""
    client = rig.client("attic_node", client_id="attic_node", version=4)
    client.subscribe(OFFER, qos=1)
    client.publish("home/attic/attic_node/announce", '{"fw":"0.3.0","tr":"wifi"}', qos=1,
                   retain=True)
    client.publish(PROGRESS, '{"st":"idle","v":"0.3.0"}', qos=1, retain=True)
    yield client
    client.disconnect()


def retained(rig: UpdateRig, topic: str) -> bytes | None:
    reader = rig.client("gwadmin")
    reader.subscribe(topic, qos=1)
    try:
        message = reader.messages.get(timeout=1.0)
        return message.payload
    except Exception:  # noqa: BLE001 - nothing retained
        return None
    finally:
        reader.disconnect()


@pytest.mark.parametrize("user", ["phone", "kitchen_node"])
def test_users_who_may_not_write_the_room_can_neither_offer_nor_install(
        rig: UpdateRig, node: PahoClient, user: str) -> None:
    attacker = rig.client(user)
    acks = Acks(attacker)
    assert acks.send(attacker, OFFER, FORGED, retain=True) == NOT_AUTHORIZED
    assert acks.send(attacker, INSTALL, "install") == NOT_AUTHORIZED
    assert acks.send(attacker, STATE, '{"installed_version":"9"}', retain=True) \
        == NOT_AUTHORIZED
    node.none(wait=1.0)                       # no offer reached the node
    assert retained(rig, OFFER) is None
    attacker.disconnect()


@pytest.mark.parametrize("user", ["gwadmin", "attic_node"])
def test_not_even_users_who_may_write_the_room_can_offer(rig: UpdateRig, node: PahoClient,
                                                        user: str) -> None:
    attacker = rig.client(user, client_id=f"{user}-attacker")
    acks = Acks(attacker)
    assert acks.send(attacker, OFFER, FORGED, retain=True) == NOT_AUTHORIZED
    assert acks.send(attacker, STATE, '{"installed_version":"9"}', retain=True) \
        == NOT_AUTHORIZED
    node.none(wait=1.0)
    # install is theirs to send: the gateway then offers its own image, from its server.
    assert acks.send(attacker, INSTALL, "install") == 0
    offer = json.loads(node.get().payload)
    assert offer["v"] == "0.4.0"
    assert offer["url"] == f"http://{rig.host}:{rig.http_port}/firmware/node-0.4.0.bin"
    attacker.disconnect()


def test_a_will_on_the_offer_topic_is_refused(rig: UpdateRig, node: PahoClient) -> None:
    attacker = PahoClient(rig.mqtt_port, version=5, client_id="will-attacker")
    attacker.client.username_pw_set("gwadmin", "gwadmin-password-of-16+")
    _, reason, _ = rig.lan.call(attacker.connect, host=rig.host,
                                will=(OFFER, FORGED.encode(), 1, True))
    assert reason.is_failure
    attacker.client.loop_stop()
    node.none(wait=1.0)


def test_the_install_request_needs_write_access(rig: UpdateRig, node: PahoClient) -> None:
    phone = rig.client("phone")
    phone.subscribe(STATE, qos=1)
    acks = Acks(phone)
    assert acks.send(phone, INSTALL, "install") == NOT_AUTHORIZED
    node.none(wait=1.0)
    phone.disconnect()


def test_the_first_boot_setup_without_an_acl_still_reserves_offers(lan: Lan,
                                                                   tmp_path: Path) -> None:
    from gateway.firstboot.bootfile import appliance_broker

    # What first boot gives the appliance: users with passwords, no ACL file.
    (listener,) = appliance_broker({}, "/etc/sensor-gateway/passwd")["listeners"]
    assert "acl_file" not in listener and listener["password_file"]
    with update_rig(lan, tmp_path, acl=False) as rig:
        node = rig.client("attic_node", client_id="attic_node", version=4)
        node.subscribe(OFFER, qos=1)
        node.publish("home/attic/attic_node/announce", '{"fw":"0.3.0","tr":"wifi"}', qos=1,
                     retain=True)
        node.publish(PROGRESS, '{"st":"idle","v":"0.3.0"}', qos=1, retain=True)
        phone = rig.client("phone")
        acks = Acks(phone)
        assert acks.send(phone, OFFER, FORGED, retain=True) == NOT_AUTHORIZED
        assert acks.send(phone, STATE, "{}", retain=True) == NOT_AUTHORIZED
        node.none(wait=1.0)
        assert acks.send(phone, INSTALL, "install") == 0     # every user may ask
        assert json.loads(node.get().payload)["v"] == "0.4.0"
        phone.disconnect()
        node.disconnect()


@pytest.mark.parametrize(("username", "peer", "allowed"), [
    (None, "127.0.0.1:40000", True),          # the machine itself: the gateway's tools
    (None, "[::1]:40000", True),
    ("gwadmin", "127.0.0.1:40000", False),    # a user is a user, wherever from
    (None, "198.18.0.2:40000", False),        # anonymous from the network
    (None, "serial:/dev/ttyUSB0", False),     # a node on a cable
])
def test_who_the_reservation_lets_through(username: str | None, peer: str,
                                          allowed: bool) -> None:
    policy = GatewayOnlyTopics(AllowAll(), firmware_only_topics("home"))
    client = ClientInfo("c", username=username, peer=peer)
    assert policy.restricts_publish
    assert policy.can_publish(client, OFFER) is allowed
    assert policy.can_publish(client, STATE) is allowed
    assert policy.can_publish(client, INSTALL)
    assert policy.can_publish(client, "home/attic/firmware/offer")    # not a node's
