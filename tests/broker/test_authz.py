"""The authorization seam: denied subscriptions get a failure code in SUBACK (0x80 in
3.1.1; in 5.0 0x87 for what a policy denies a client, 0x80 for the server-wide
`deny_subscribe` list), denied publishes are dropped (5.0: 0x87 in PUBACK / PUBREC), readers
the policy refuses get nothing, and CONNECT refusals use the right codes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from support.pahoclient import PahoClient
from support.ports import HOST
from support.processes import OurBroker
from support.rawmqtt import RawClient
from support.threadbroker import ThreadBroker

from broker.engine.policy import AllowAll, ClientInfo
from broker.protocol.packets import Publish, Pubrec, Will

Raw = Callable[..., RawClient]
Paho = Callable[..., PahoClient]

DENIED = "test/nosubscribe"


class StrictPolicy(AllowAll):
    """Denies publishing below nopublish/, reading below secret/, and the user "mallory"."""

    def authenticate(
        self, client: ClientInfo, username: str | None, password: bytes | None
    ) -> bool:
        return username != "mallory"

    def can_publish(self, client: ClientInfo, topic: str) -> bool:
        return not topic.startswith("nopublish/")

    def can_read(self, client: ClientInfo, topic: str) -> bool:
        return not topic.startswith("secret/")

    def can_subscribe(self, client: ClientInfo, topic_filter: str) -> bool:
        return not topic_filter.startswith("private/")


@pytest.fixture
def strict(make_broker: Callable[..., ThreadBroker]) -> ThreadBroker:
    return make_broker(policy=StrictPolicy())


@pytest.mark.parametrize("version, code", [(4, 0x80), (5, 0x87)])
def test_subscription_a_policy_denies_gets_not_authorized_in_5(
    make_broker: Callable[..., ThreadBroker], connected: Raw, version: int, code: int
) -> None:
    """What a policy (an ACL) denies a client: 0x87 Not authorized in 5.0; the server-wide
    deny list still answers 0x80 beside it."""
    b = make_broker(policy=StrictPolicy(), deny_subscribe=[DENIED])
    c = connected(version, port=b.port)
    assert c.subscribe(("private/x", 1), (DENIED, 1), ("open/x", 1)).reason_codes == [code, 0x80, 1]


# --- denied subscriptions, through the CLI option -------------------------------------------


@pytest.mark.parametrize("version, code", [(3, 0x80), (4, 0x80), (5, 0x80)])
def test_denied_subscription_gets_failure_code(
    broker_process: OurBroker, paho: Paho, version: int, code: int
) -> None:
    """`--deny-subscribe test/nosubscribe`: SUBACK 0x80 in every version (a filter refused to
    everyone; 5.0's 0x87 Not authorized is for what an ACL denies a user, tests/security),
    as the Eclipse Paho interoperability suite checks."""
    c = paho(version, port=broker_process.port)
    assert c.subscribe(DENIED, 1) == [code]


@pytest.mark.parametrize("version, code", [(4, 0x80), (5, 0x80)])
def test_denied_filter_mixed_with_allowed_ones(
    broker_process: OurBroker, connected: Raw, topic: str, version: int, code: int
) -> None:
    c = connected(version, port=broker_process.port)
    ack = c.subscribe((f"{topic}/a", 1), (DENIED, 2), (f"{topic}/b", 2))
    assert ack.reason_codes == [1, code, 2]
    pub = connected(version, port=broker_process.port)
    pub.publish(DENIED, b"hidden", 1)
    pub.publish(f"{topic}/b", b"visible", 1)
    assert c.receive().payload == b"visible"
    c.silent(0.4)


def test_mosquitto_sub_sees_the_denial(broker_process: OurBroker) -> None:
    for version in ("mqttv311", "mqttv5"):
        out = subprocess.run(
            [
                "mosquitto_sub",
                "-h",
                HOST,
                "-p",
                str(broker_process.port),
                "-V",
                version,
                "-t",
                DENIED,
                "-C",
                "1",
                "-W",
                "5",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "denied" in (out.stdout + out.stderr).lower(), (version, out)


# --- denied publishes ---------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5])
def test_denied_publish_is_dropped(strict: ThreadBroker, connected: Raw, version: int) -> None:
    sub = connected(version, port=strict.port)
    sub.subscribe(("nopublish/#", 2))
    pub = connected(version, port=strict.port)
    pub.publish("nopublish/x", b"q0", 0)
    ack = pub.publish("nopublish/x", b"q1", 1)
    assert ack is not None and ack.reason_code == (0x87 if version == 5 else 0)
    sub.silent(0.5)
    # The connection stays usable.
    sub.subscribe(("ok/x", 1))
    pub.publish("ok/x", b"fine", 1)
    assert sub.receive().payload == b"fine"


def test_denied_qos2_publish_pubrec_087(strict: ThreadBroker, connected: Raw) -> None:
    pub = connected(5, port=strict.port)
    pub.send(Publish("nopublish/y", b"x", 2, packet_id=9))
    rec = pub.expect(Pubrec)
    assert (rec.packet_id, rec.reason_code) == (9, 0x87)


def test_denied_retained_publish_is_not_stored(strict: ThreadBroker, connected: Raw) -> None:
    connected(4, port=strict.port).publish("nopublish/r", b"x", 1, retain=True)
    late = connected(4, port=strict.port)
    late.subscribe(("nopublish/#", 1))
    late.silent(0.5)


def test_reader_denied_by_policy_gets_nothing(strict: ThreadBroker, connected: Raw) -> None:
    sub = connected(5, port=strict.port)
    sub.subscribe(("#", 1))
    pub = connected(5, port=strict.port)
    pub.publish("secret/code", b"1234", 1, retain=True)
    pub.publish("open/news", b"hello", 1)
    assert sub.receive().topic == "open/news"
    late = connected(5, port=strict.port)
    late.subscribe(("secret/#", 1))
    late.silent(0.5)


# --- CONNECT refusals -----------------------------------------------------------------------


@pytest.mark.parametrize("version, code", [(3, 0x04), (4, 0x04), (5, 0x86)])
def test_bad_credentials_refused(strict: ThreadBroker, raw: Raw, version: int, code: int) -> None:
    c = raw(version, port=strict.port)
    ack = c.connect(username="mallory", password=b"x", expect_success=False)
    assert ack.reason_code == code
    assert c.closed() == []


@pytest.mark.parametrize("version, code", [(4, 0x05), (5, 0x87)])
def test_will_topic_not_authorized(strict: ThreadBroker, raw: Raw, version: int, code: int) -> None:
    c = raw(version, port=strict.port)
    ack = c.connect(will=Will("nopublish/will", b"x"), expect_success=False)
    assert ack.reason_code == code
    assert c.closed() == []
