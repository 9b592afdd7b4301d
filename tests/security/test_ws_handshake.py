"""The WebSocket opening handshake: RFC 6455 examples and refusals."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from broker.transports.ws_handshake import (
    HandshakeError,
    HandshakeReader,
    accept_key,
    accept_response,
    error_response,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3 example


def request(path: str = "/mqtt", **headers: str) -> bytes:
    base = {
        "Host": "gw.local:9001",
        "Upgrade": "websocket",
        "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Protocol": "mqtt",
    }
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    lines = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in base.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_rfc_example_accept_key() -> None:
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_upgrade_byte_by_byte_keeps_trailing_bytes() -> None:
    reader = HandshakeReader()
    wire = request("/mqtt?x=1") + b"\x82\x80"
    result = None
    for i in range(len(wire)):
        result = reader.feed(wire[i : i + 1])
        if result:
            break
    assert result is not None
    req, rest = result
    assert req.path == "/mqtt" and req.subprotocol == "mqtt"
    assert rest == b"" and i == len(wire) - 3  # the head ended before the frame bytes
    response = accept_response(req).decode()
    assert response.startswith("HTTP/1.1 101 ")
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in response
    assert "Sec-WebSocket-Protocol: mqtt\r\n" in response


def test_frame_bytes_in_same_packet_are_returned() -> None:
    _, rest = HandshakeReader().feed(request() + b"\x82\x80abcd")
    assert rest == b"\x82\x80abcd"


def test_subprotocol_choice() -> None:
    req, _ = HandshakeReader().feed(request(Sec_WebSocket_Protocol="foo, mqttv3.1, mqtt"))
    assert req.subprotocol == "mqttv3.1"
    req, _ = HandshakeReader().feed(request(Sec_WebSocket_Protocol=None))
    assert req.subprotocol is None and b"Sec-WebSocket-Protocol" not in accept_response(req)


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (request("/other"), HTTPStatus.NOT_FOUND),
        (request(Upgrade="h2c"), HTTPStatus.UPGRADE_REQUIRED),
        (request(Connection="keep-alive"), HTTPStatus.UPGRADE_REQUIRED),
        (request(Sec_WebSocket_Version="8"), HTTPStatus.UPGRADE_REQUIRED),
        (request(Sec_WebSocket_Key="short"), HTTPStatus.BAD_REQUEST),
        (request(Sec_WebSocket_Key=None), HTTPStatus.BAD_REQUEST),
        (request(Sec_WebSocket_Protocol="stomp"), HTTPStatus.BAD_REQUEST),
        (request().replace(b"GET", b"POST", 1), HTTPStatus.METHOD_NOT_ALLOWED),
        (request().replace(b"HTTP/1.1", b"HTTP/1.0", 1), HTTPStatus.HTTP_VERSION_NOT_SUPPORTED),
        (b"garbage\r\n\r\n", HTTPStatus.BAD_REQUEST),
        (request().replace(b"Host:", b"Host :", 1), HTTPStatus.BAD_REQUEST),
        (request(Host="g\xe9".encode("latin-1").decode("latin-1")), HTTPStatus.BAD_REQUEST),
    ],
)
def test_refusals(wire: bytes, status: HTTPStatus) -> None:
    with pytest.raises(HandshakeError) as err:
        HandshakeReader().feed(wire)
    assert err.value.status == status
    response = error_response(err.value)
    assert response.startswith(f"HTTP/1.1 {status.value} ".encode())
    assert b"Connection: close" in response


def test_origin_allow_list() -> None:
    reader = HandshakeReader(allowed_origins={"http://gw.local"})
    assert reader.feed(request(Origin="http://gw.local"))[0].origin == "http://gw.local"
    for origin in ("http://evil.example", None):
        with pytest.raises(HandshakeError) as err:
            HandshakeReader(allowed_origins={"http://gw.local"}).feed(request(Origin=origin))
        assert err.value.status == HTTPStatus.FORBIDDEN


def test_endless_headers_are_cut_off() -> None:
    reader = HandshakeReader(max_bytes=1024)
    reader.feed(b"GET /mqtt HTTP/1.1\r\n")
    with pytest.raises(HandshakeError) as err:
        for _ in range(100):
            reader.feed(b"X-Filler: " + b"a" * 50 + b"\r\n")
    assert err.value.status == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
