"""Codec: every packet type and every MQTT 5.0 property round-trips, in every version.

The property table below is written from MQTT 5.0 section 2.2.2.2 (identifier, and which
packets may carry each property), independently of the codec's own table, so a codec that
mislabels a property fails here. Known byte strings pin the wire format.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.protocol import (
    Decoder,
    MalformedPacket,
    PacketTooLarge,
    ProtocolError,
    UnsupportedProtocolVersion,
    encode,
)
from broker.protocol.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    SubscriptionOptions,
    Unsuback,
    Unsubscribe,
    Will,
)
from broker.protocol.properties import PROPERTY_NAMES
from broker.protocol.wire import Reader, encode_varint


def roundtrip(packet: Packet, version: int) -> Packet:
    """Encode, then decode through a fresh stream decoder; exactly one packet must come out."""
    data = encode(packet, version)
    decoder = Decoder(version=version)
    out = decoder.feed(data)
    assert decoder.error is None, decoder.error
    assert len(out) == 1
    assert decoder.buffered() == 0
    return out[0]


def decode_error(data: bytes, version: int, max_packet_size: int | None = None) -> Exception:
    """Feed ``data`` and return the violation the decoder recorded."""
    decoder = Decoder(version=version)
    if max_packet_size is not None:
        decoder.max_packet_size = max_packet_size
    decoder.feed(data)
    assert decoder.error is not None, f"{data!r} was accepted"
    return decoder.error


# --- every packet type, every version ----------------------------------------------------

WILL = Will("will/topic", b"\x00gone\xff", 2, True)


def packets_for(version: int) -> list[Packet]:
    """One or more instances of every control packet, valid for ``version``."""
    v5 = version == 5
    name = "MQIsdp" if version == 3 else "MQTT"
    reason = 0x10 if v5 else 0
    return [
        Connect(version, "client-1", True, 60, protocol_name=name),
        Connect(version, "c", False, 0, WILL, "user", b"\x00pw\xff", protocol_name=name),
        Connect(version, "ünïcode-id", True, 65535, None, "user", None, protocol_name=name),
        Connack(False, 0),
        Connack(True, 0),
        Connack(False, 0x87 if v5 else 0),
        Publish("a/b", b"payload", 0),
        Publish("a/b", b"", 1, True, False, 1),
        Publish("a/b/ü", bytes(range(256)) * 300, 2, False, True, 65535),
        Puback(1, reason),
        Pubrec(2, reason),
        Pubrel(3, 0x92 if v5 else 0),
        Pubcomp(65535, 0x92 if v5 else 0),
        Subscribe(7, [("a/+", SubscriptionOptions(0)), ("#", SubscriptionOptions(2))]),
        Suback(7, [0, 1, 2, 0x80]),
        Unsubscribe(8, ["a/+", "#"]),
        Unsuback(8, [0x00, 0x11] if v5 else []),
        Pingreq(),
        Pingresp(),
        Disconnect(0x04 if v5 else 0),
    ]


@pytest.mark.parametrize("version", [3, 4, 5])
def test_every_packet_type_roundtrips(version: int) -> None:
    packets = packets_for(version)
    assert {p.type for p in packets} == set(range(1, 15))
    for packet in packets:
        assert roundtrip(packet, version) == packet


def test_mqtt5_subscription_options_roundtrip() -> None:
    topics = [
        ("a", SubscriptionOptions(0, True, False, 0)),
        ("b", SubscriptionOptions(1, False, True, 1)),
        ("c", SubscriptionOptions(2, True, True, 2)),
        ("$share/g/d", SubscriptionOptions(1, False, False, 0)),
    ]
    p = Subscribe(9, topics, {"subscription_identifier": [5]})
    assert roundtrip(p, 5) == p


def test_auth_roundtrips_in_mqtt5() -> None:
    for p in (
        Auth(),
        Auth(0x18, {"authentication_method": "SCRAM-SHA-1", "authentication_data": b"\x01"}),
    ):
        assert roundtrip(p, 5) == p


def test_auth_is_not_part_of_mqtt311() -> None:
    assert isinstance(decode_error(b"\xf0\x00", 4), ProtocolError)


def test_stream_split_anywhere_gives_the_same_packets() -> None:
    packets = packets_for(5)
    data = b"".join(encode(p, 5) for p in packets)
    for step in (1, 2, 3, 7, 1000):
        decoder = Decoder(version=5)
        out: list[Packet] = []
        for i in range(0, len(data), step):
            out.extend(decoder.feed(data[i : i + step]))
        assert decoder.error is None
        assert out == packets


# --- every property ----------------------------------------------------------------------

# MQTT 5.0 table 2-4: identifier and the packets (or the Will properties) that carry it.
ALL_ACKS = {"PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBACK", "UNSUBACK"}
EVERY = {"CONNECT", "CONNACK", "PUBLISH", "WILL", "SUBSCRIBE", "UNSUBSCRIBE", "DISCONNECT", "AUTH"}
SPEC_PROPERTIES: dict[str, tuple[int, set[str], object]] = {
    "payload_format_indicator": (0x01, {"PUBLISH", "WILL"}, 1),
    "message_expiry_interval": (0x02, {"PUBLISH", "WILL"}, 0xFFFFFFFF),
    "content_type": (0x03, {"PUBLISH", "WILL"}, "application/json; charset=ü"),
    "response_topic": (0x08, {"PUBLISH", "WILL"}, "reply/to/me"),
    "correlation_data": (0x09, {"PUBLISH", "WILL"}, b"\x00\x01corr\xff"),
    "subscription_identifier": (0x0B, {"PUBLISH", "SUBSCRIBE"}, [268_435_455]),
    "session_expiry_interval": (0x11, {"CONNECT", "CONNACK", "DISCONNECT"}, 0xFFFFFFFF),
    "assigned_client_identifier": (0x12, {"CONNACK"}, "auto-42"),
    "server_keep_alive": (0x13, {"CONNACK"}, 65535),
    "authentication_method": (0x15, {"CONNECT", "CONNACK", "AUTH"}, "SCRAM-SHA-256"),
    "authentication_data": (0x16, {"CONNECT", "CONNACK", "AUTH"}, b"\x00challenge"),
    "request_problem_information": (0x17, {"CONNECT"}, 0),
    "will_delay_interval": (0x18, {"WILL"}, 30),
    "request_response_information": (0x19, {"CONNECT"}, 1),
    "response_information": (0x1A, {"CONNACK"}, "responses/"),
    "server_reference": (0x1C, {"CONNACK", "DISCONNECT"}, "other.example:1883"),
    "reason_string": (0x1F, {"CONNACK", "DISCONNECT", "AUTH"} | ALL_ACKS, "because"),
    "receive_maximum": (0x21, {"CONNECT", "CONNACK"}, 65535),
    "topic_alias_maximum": (0x22, {"CONNECT", "CONNACK"}, 10),
    "topic_alias": (0x23, {"PUBLISH"}, 7),
    "maximum_qos": (0x24, {"CONNACK"}, 1),
    "retain_available": (0x25, {"CONNACK"}, 0),
    "user_property": (0x26, EVERY | ALL_ACKS, [("k", "v"), ("k", "v2"), ("ü", "")]),
    "maximum_packet_size": (0x27, {"CONNECT", "CONNACK"}, 268_435_460),
    "wildcard_subscription_available": (0x28, {"CONNACK"}, 0),
    "subscription_identifier_available": (0x29, {"CONNACK"}, 1),
    "shared_subscription_available": (0x2A, {"CONNACK"}, 0),
}


def carrier(kind: str, props: dict) -> Packet:
    """A 5.0 packet of ``kind`` carrying ``props``."""
    return {
        "CONNECT": lambda: Connect(5, "c", properties=props),
        "WILL": lambda: Connect(5, "c", will=Will("w", b"x", 1, False, props)),
        "CONNACK": lambda: Connack(False, 0, props),
        "PUBLISH": lambda: Publish("a/b", b"x", 1, packet_id=1, properties=props),
        "PUBACK": lambda: Puback(1, 0, props),
        "PUBREC": lambda: Pubrec(1, 0, props),
        "PUBREL": lambda: Pubrel(1, 0, props),
        "PUBCOMP": lambda: Pubcomp(1, 0, props),
        "SUBSCRIBE": lambda: Subscribe(1, [("a", SubscriptionOptions(1))], props),
        "SUBACK": lambda: Suback(1, [1], props),
        "UNSUBSCRIBE": lambda: Unsubscribe(1, ["a"], props),
        "UNSUBACK": lambda: Unsuback(1, [0], props),
        "DISCONNECT": lambda: Disconnect(0, props),
        "AUTH": lambda: Auth(0x18, props),
    }[kind]()


CARRIERS = EVERY | ALL_ACKS


def test_property_table_covers_every_property() -> None:
    assert set(SPEC_PROPERTIES) == set(PROPERTY_NAMES)


@pytest.mark.parametrize("name", sorted(SPEC_PROPERTIES))
def test_property_roundtrips_in_every_packet_that_may_carry_it(name: str) -> None:
    ident, allowed, value = SPEC_PROPERTIES[name]
    for kind in sorted(allowed):
        packet = carrier(kind, {name: value})
        assert roundtrip(packet, 5) == packet, kind
    # The identifier on the wire is the one the specification gives.
    data = encode(Disconnect(0, {name: value}), 5)
    assert data[4] == ident  # after type, length, reason code, property length


@pytest.mark.parametrize("name", sorted(SPEC_PROPERTIES))
def test_property_in_a_packet_that_may_not_carry_it_is_a_protocol_error(name: str) -> None:
    _, allowed, value = SPEC_PROPERTIES[name]
    for kind in sorted(CARRIERS - allowed):
        data = encode(carrier(kind, {name: value}), 5)
        assert isinstance(decode_error(data, 5), ProtocolError), kind


def test_all_properties_together_in_order() -> None:
    props = {n: v for n, (_, allowed, v) in SPEC_PROPERTIES.items() if "CONNACK" in allowed}
    assert roundtrip(Connack(True, 0, props), 5) == Connack(True, 0, props)


def test_several_subscription_identifiers_in_one_publish() -> None:
    p = Publish("a", b"", 0, properties={"subscription_identifier": [1, 127, 128, 16384]})
    assert roundtrip(p, 5) == p


@pytest.mark.parametrize(
    "props, error",
    [
        ({"subscription_identifier": [0]}, ProtocolError),
        ({"receive_maximum": 0}, ProtocolError),
        ({"maximum_packet_size": 0}, ProtocolError),
        ({"request_problem_information": 2}, ProtocolError),
    ],
)
def test_out_of_range_property_values(props: dict, error: type) -> None:
    kind = "SUBSCRIBE" if "subscription_identifier" in props else "CONNECT"
    assert isinstance(decode_error(encode(carrier(kind, props), 5), 5), error)


def test_duplicate_property_is_a_protocol_error() -> None:
    once = encode(Publish("a", b"", 0, properties={"content_type": "x"}), 5)
    # 0x30 len, topic "a", props len 4: 03 00 01 78 -> repeat the property.
    body = b"\x00\x01a" + b"\x08" + b"\x03\x00\x01x" * 2
    assert once.startswith(b"\x30")
    assert isinstance(decode_error(b"\x30" + bytes((len(body),)) + body, 5), ProtocolError)


def test_two_subscription_identifiers_in_subscribe_are_a_protocol_error() -> None:
    body = b"\x00\x01" + b"\x04" + b"\x0b\x01\x0b\x02" + b"\x00\x01a\x01"
    assert isinstance(decode_error(b"\x82" + bytes((len(body),)) + body, 5), ProtocolError)


def test_unknown_property_identifier_is_malformed() -> None:
    body = b"\x00\x01a" + b"\x02\x7f\x00"
    assert isinstance(decode_error(b"\x30" + bytes((len(body),)) + body, 5), MalformedPacket)


def test_property_length_beyond_the_packet_is_malformed() -> None:
    body = b"\x00\x01a" + b"\x09\x01\x01"
    assert isinstance(decode_error(b"\x30" + bytes((len(body),)) + body, 5), MalformedPacket)


# --- known bytes ------------------------------------------------------------------------

KNOWN = [
    (4, Connect(4, "test", True, 60), b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04test"),
    (
        3,
        Connect(3, "test", True, 60, protocol_name="MQIsdp"),
        b"\x10\x12\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x04test",
    ),
    (5, Connect(5, "test", True, 60), b"\x10\x11\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x04test"),
    (
        4,
        Connect(4, "c", False, 10, Will("w", b"x", 1, True), "u", b"p"),
        b"\x10\x19\x00\x04MQTT\x04\xec\x00\x0a\x00\x01c\x00\x01w\x00\x01x\x00\x01u\x00\x01p",
    ),
    (4, Connack(True, 0), b"\x20\x02\x01\x00"),
    (5, Connack(False, 0x86), b"\x20\x03\x00\x86\x00"),
    (4, Publish("a/b", b"hi", 1, False, False, 10), b"\x32\x09\x00\x03a/b\x00\x0ahi"),
    (4, Publish("a", b"", 2, True, True, 1), b"\x3d\x05\x00\x01a\x00\x01"),
    (5, Publish("a", b"z", 0), b"\x30\x05\x00\x01a\x00z"),
    (5, Puback(1), b"\x40\x02\x00\x01"),
    (5, Puback(1, 0x10), b"\x40\x03\x00\x01\x10"),
    (4, Pubrel(0x1234), b"\x62\x02\x12\x34"),
    (4, Subscribe(1, [("a/b", SubscriptionOptions(1))]), b"\x82\x08\x00\x01\x00\x03a/b\x01"),
    (
        5,
        Subscribe(1, [("a", SubscriptionOptions(2, True, True, 2))]),
        b"\x82\x07\x00\x01\x00\x00\x01a\x2e",
    ),
    (4, Suback(1, [0x80]), b"\x90\x03\x00\x01\x80"),
    (5, Suback(1, [0x87]), b"\x90\x04\x00\x01\x00\x87"),
    (4, Unsubscribe(2, ["a"]), b"\xa2\x05\x00\x02\x00\x01a"),
    (4, Unsuback(2), b"\xb0\x02\x00\x02"),
    (4, Pingreq(), b"\xc0\x00"),
    (4, Pingresp(), b"\xd0\x00"),
    (4, Disconnect(), b"\xe0\x00"),
    (5, Disconnect(0x04), b"\xe0\x01\x04"),
    (5, Disconnect(0x8E, {"reason_string": "x"}), b"\xe0\x06\x8e\x04\x1f\x00\x01x"),
    (5, Auth(0x19), b"\xf0\x02\x19\x00"),
]


@pytest.mark.parametrize("version, packet, data", KNOWN)
def test_known_bytes(version: int, packet: Packet, data: bytes) -> None:
    assert encode(packet, version) == data
    decoder = Decoder(version=version)
    assert decoder.feed(data) == [packet]


def test_mqtt5_acks_may_omit_reason_code_and_properties() -> None:
    # A remaining length of 2 means success with no properties (MQTT 5.0 3.4.2.1).
    for first, cls in ((0x40, Puback), (0x50, Pubrec), (0x62, Pubrel), (0x70, Pubcomp)):
        assert Decoder(version=5).feed(bytes((first, 2, 0, 5))) == [cls(5, 0)]
        assert Decoder(version=5).feed(bytes((first, 3, 0, 5, 0x10))) == [cls(5, 0x10)]


def test_mqtt5_disconnect_without_body_is_normal() -> None:
    assert Decoder(version=5).feed(b"\xe0\x00") == [Disconnect(0)]


def test_v3_connack_maps_mqtt5_reason_codes() -> None:
    assert encode(Connack(False, 0x84), 4) == b"\x20\x02\x00\x01"
    assert encode(Connack(False, 0x85), 4) == b"\x20\x02\x00\x02"
    assert encode(Connack(False, 0x86), 4) == b"\x20\x02\x00\x04"
    assert encode(Connack(False, 0x87), 4) == b"\x20\x02\x00\x05"
    assert encode(Connack(False, 0x88), 4) == b"\x20\x02\x00\x03"


# --- variable byte integers -------------------------------------------------------------


@pytest.mark.parametrize(
    "value, data",
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_variable_byte_integer_boundaries(value: int, data: bytes) -> None:
    assert encode_varint(value) == data
    assert Reader(data).varint() == value


def test_variable_byte_integer_out_of_range() -> None:
    with pytest.raises(ValueError):
        encode_varint(268_435_456)
    with pytest.raises(MalformedPacket):
        Reader(b"\xff\xff\xff\xff\x01").varint()


def test_remaining_length_of_five_bytes_is_malformed() -> None:
    assert isinstance(decode_error(b"\x30\xff\xff\xff\xff\x01", 4), MalformedPacket)


def test_large_remaining_length_roundtrips() -> None:
    p = Publish("big", b"x" * 2_100_000, 0)
    assert roundtrip(p, 4) == p


def test_packet_above_maximum_size_fails_before_its_body_arrives() -> None:
    # Only the fixed header of a 200 MB PUBLISH: refused without buffering the body.
    err = decode_error(b"\x30\x80\x80\x80\x60", 4, max_packet_size=1024)
    assert isinstance(err, PacketTooLarge)
    assert err.reason_code == 0x95


# --- malformed packets ------------------------------------------------------------------


def _connect(level: int = 4, flags: int = 0x02, name: bytes = b"MQTT", tail: bytes = b"") -> bytes:
    body = len(name).to_bytes(2, "big") + name + bytes((level, flags)) + b"\x00\x3c"
    if level == 5:
        body += b"\x00"
    body += b"\x00\x01c" + tail
    return bytes((0x10, len(body))) + body


MALFORMED = [
    ("reserved packet type 0", 4, b"\x00\x00", MalformedPacket),
    ("CONNECT fixed-header flags", 4, b"\x11" + _connect()[1:], MalformedPacket),
    ("CONNECT reserved flag", 4, _connect(flags=0x03), MalformedPacket),
    ("will QoS 3", 4, _connect(flags=0x1E, tail=b"\x00\x01w\x00\x00"), MalformedPacket),
    ("will QoS without will flag", 4, _connect(flags=0x0A), MalformedPacket),
    ("will retain without will flag", 4, _connect(flags=0x22), MalformedPacket),
    ("password without user name", 4, _connect(flags=0x42, tail=b"\x00\x01p"), MalformedPacket),
    ("CONNECT field missing", 4, b"\x10\x0a\x00\x04MQTT\x04\x02\x00\x3c", MalformedPacket),
    ("CONNECT trailing bytes", 4, _connect(tail=b"\x00"), MalformedPacket),
    ("client id not UTF-8", 4, _connect()[:-1] + b"\xff", MalformedPacket),
    ("client id with NUL", 4, _connect()[:-1] + b"\x00", MalformedPacket),
    ("client id UTF-16 surrogate", 4, _connect()[:-3] + b"\x00\x03\xed\xa0\x80", MalformedPacket),
    ("PUBLISH QoS 3", 4, b"\x36\x05\x00\x01a\x00\x01", MalformedPacket),
    ("DUP on QoS 0", 4, b"\x38\x03\x00\x01a", MalformedPacket),
    ("PUBLISH packet id 0", 4, b"\x32\x05\x00\x01a\x00\x00", MalformedPacket),
    ("PUBLISH topic beyond packet", 4, b"\x30\x03\x00\x05a", MalformedPacket),
    ("PUBLISH topic not UTF-8", 4, b"\x30\x03\x00\x01\xc0", MalformedPacket),
    ("PUBLISH topic with NUL", 4, b"\x30\x05\x00\x03a\x00b", MalformedPacket),
    ("PUBACK flags", 4, b"\x41\x02\x00\x01", MalformedPacket),
    ("PUBREL flags must be 2", 4, b"\x60\x02\x00\x01", MalformedPacket),
    ("PUBACK packet id 0", 4, b"\x40\x02\x00\x00", MalformedPacket),
    ("PUBACK too long (3.1.1)", 4, b"\x40\x03\x00\x01\x00", MalformedPacket),
    ("SUBSCRIBE flags must be 2", 4, b"\x80\x06\x00\x01\x00\x01a\x00", MalformedPacket),
    ("SUBSCRIBE without filters", 4, b"\x82\x02\x00\x01", ProtocolError),
    ("SUBSCRIBE QoS 3", 4, b"\x82\x06\x00\x01\x00\x01a\x03", MalformedPacket),
    ("SUBSCRIBE reserved option bits", 4, b"\x82\x06\x00\x01\x00\x01a\x04", MalformedPacket),
    ("SUBSCRIBE 5.0 reserved bits", 5, b"\x82\x07\x00\x01\x00\x00\x01a\xc0", MalformedPacket),
    ("retain handling 3", 5, b"\x82\x07\x00\x01\x00\x00\x01a\x30", ProtocolError),
    ("UNSUBSCRIBE flags", 4, b"\xa0\x05\x00\x01\x00\x01a", MalformedPacket),
    ("UNSUBSCRIBE without filters", 4, b"\xa2\x02\x00\x01", ProtocolError),
    ("PINGREQ with body", 4, b"\xc0\x01\x00", MalformedPacket),
    ("PINGREQ flags", 4, b"\xc1\x00", MalformedPacket),
    ("DISCONNECT flags", 4, b"\xe1\x00", MalformedPacket),
    ("DISCONNECT with body (3.1.1)", 4, b"\xe0\x01\x00", MalformedPacket),
    ("AUTH flags", 5, b"\xf1\x00", MalformedPacket),
]


@pytest.mark.parametrize(
    "version, data, error", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_packets_are_rejected(version: int, data: bytes, error: type) -> None:
    err = decode_error(data, version)
    assert isinstance(err, error), repr(err)


def test_unknown_protocol_name_is_a_protocol_error() -> None:
    assert isinstance(decode_error(_connect(name=b"MQTX"), 0), ProtocolError)


@pytest.mark.parametrize("level", [1, 2, 6, 7])
def test_unsupported_protocol_level(level: int) -> None:
    err = decode_error(_connect(level=level), 0)
    assert isinstance(err, UnsupportedProtocolVersion)
    assert err.level == level


def test_mqisdp_needs_level_3_and_mqtt_needs_4_or_5() -> None:
    assert isinstance(
        decode_error(_connect(level=4, name=b"MQIsdp"), 0), UnsupportedProtocolVersion
    )
    assert isinstance(decode_error(_connect(level=3), 0), UnsupportedProtocolVersion)


def test_decoder_learns_the_version_from_connect() -> None:
    decoder = Decoder()
    data = encode(Connect(5, "c"), 5) + encode(
        Publish("a", b"x", 0, properties={"topic_alias": 1}), 5
    )
    out = decoder.feed(data)
    assert decoder.version == 5
    assert out[1].properties == {"topic_alias": 1}


def test_packets_before_a_bad_one_are_still_returned() -> None:
    decoder = Decoder(version=4)
    out = decoder.feed(encode(Pingreq(), 4) + b"\x00\x00" + encode(Pingreq(), 4))
    assert out == [Pingreq()]
    assert isinstance(decoder.error, MalformedPacket)
    assert decoder.feed(encode(Pingreq(), 4)) == []


# --- generated round trips --------------------------------------------------------------

# MQTT strings: UTF-8 without U+0000 (and surrogates cannot be encoded at all).
chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
topics = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"),
    min_size=1,
    max_size=40,
)
user_props = st.lists(st.tuples(st.text(chars, max_size=8), st.text(chars, max_size=8)), max_size=3)


@settings(max_examples=150, deadline=None)
@given(
    topic=topics,
    payload=st.binary(max_size=300),
    qos=st.integers(0, 2),
    retain=st.booleans(),
    packet_id=st.integers(1, 65535),
    version=st.sampled_from([3, 4, 5]),
    expiry=st.none() | st.integers(0, 0xFFFFFFFF),
    users=user_props,
)
def test_publish_roundtrips(
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    packet_id: int,
    version: int,
    expiry: int | None,
    users: list,
) -> None:
    props: dict = {}
    if version == 5:
        if expiry is not None:
            props["message_expiry_interval"] = expiry
        if users:
            props["user_property"] = users
    p = Publish(topic, payload, qos, retain, bool(qos) and retain, packet_id if qos else 0, props)
    assert roundtrip(p, version) == p


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64), version=st.sampled_from([0, 3, 4, 5]))
def test_decoder_never_raises_on_garbage(data: bytes, version: int) -> None:
    decoder = Decoder(version=version)
    decoder.feed(data)  # must not raise: errors are recorded, not thrown
    assert decoder.error is None or decoder.error.reason_code in (0x81, 0x82, 0x84, 0x95)


# --- whole packets for relays, and the engine's encode-once PUBLISH ---------------------


def test_raw_decoder_cuts_a_stream_into_whole_packets() -> None:
    """What the serial link's TCP relay uses: the codec's framing, no decoding."""
    connack = b"\x20\x02\x00\x00"
    publish = b"\x30\x07\x00\x01t" + b"abcd"
    big = encode(Publish("t", b"x" * 300, 1, packet_id=7), 4)  # a two-byte length
    stream = connack + publish + b"\xd0\x00" + big
    splitter = Decoder(raw=True)
    assert splitter.feed(stream[:3]) == []
    assert splitter.feed(stream[3:9]) == [connack]
    assert splitter.buffered() == 5
    assert splitter.feed(stream[9:-100]) == [publish, b"\xd0\x00"]
    assert splitter.feed(stream[-100:]) == [big]
    assert splitter.buffered() == 0
    bad = Decoder(raw=True)
    assert bad.feed(connack + b"\x30\xff\xff\xff\xff\x01") == [connack]
    assert isinstance(bad.error, MalformedPacket)


@pytest.mark.parametrize("version", [3, 4, 5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_parts_are_the_packet_encode_gives(version: int, qos: int) -> None:
    from broker.protocol.publish import publish_packet, publish_parts

    props = {"content_type": "text/plain", "user_property": [("k", "v")]}
    for retain, dup in ((False, False), (True, True)):
        packet = Publish("a/b", b"payload", qos, retain, dup and qos > 0, 513 if qos else 0, props)
        head, tail = publish_parts("a/b", qos, retain, b"payload", version, props)
        data = publish_packet(head, tail, 513, dup) if qos else head
        assert data == encode(packet, version)
        decoded = Decoder(version=version).feed(data)[0]
        assert (decoded.topic, decoded.payload, decoded.retain) == ("a/b", b"payload", retain)
        assert decoded.dup == (dup and qos > 0)


@pytest.mark.parametrize("ack", [Puback, Pubrec, Pubrel, Pubcomp])
def test_success_acknowledgements_are_four_bytes_in_every_version(ack: type) -> None:
    from broker.protocol.publish import ack_packet

    for version in (3, 4, 5):
        assert ack_packet(ack.type, 0x1234) == encode(ack(0x1234), version)
        assert len(ack_packet(ack.type, 0x1234)) == 4
