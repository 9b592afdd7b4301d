"""TLS contexts: server certificates, required client certificates, CN as identity."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from broker.transports.tls import (
    TlsConfigError,
    TlsOptions,
    common_name,
    peer_common_name,
    server_context,
)


class ReportCn(asyncio.Protocol):
    """Writes the verified client CN (or '-') and closes: a stand-in for a listener."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write((peer_common_name(transport) or "-").encode())
        transport.close()


async def handshake(options: TlsOptions, pki, client_cn: str | None) -> str:
    server = await asyncio.get_running_loop().create_server(
        ReportCn, "127.0.0.1", 0, ssl=server_context(options)
    )
    port = server.sockets[0].getsockname()[1]
    client = ssl.create_default_context(cafile=str(pki.ca_cert))
    if client_cn:
        cert, key = pki.client(client_cn)
        client.load_cert_chain(cert, key)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client), 60
        )
        data = await asyncio.wait_for(reader.read(), 60)
        writer.close()
        return data.decode()
    finally:
        server.close()
        await server.wait_closed()


def opts(pki, **kw) -> TlsOptions:
    return TlsOptions(certfile=pki.server_cert, keyfile=pki.server_key, **kw)


def test_server_only_tls(pki) -> None:
    assert asyncio.run(handshake(opts(pki), pki, None)) == "-"
    # a client certificate offered to a listener without cafile is not verified, so no CN
    assert asyncio.run(handshake(opts(pki), pki, "node-1")) == "-"


def test_optional_client_certificate(pki) -> None:
    options = opts(pki, cafile=pki.ca_cert)
    assert asyncio.run(handshake(options, pki, "node-1")) == "node-1"
    assert asyncio.run(handshake(options, pki, None)) == "-"


def test_required_client_certificate(pki) -> None:
    options = opts(pki, cafile=pki.ca_cert, require_certificate=True, use_identity_as_username=True)
    assert asyncio.run(handshake(options, pki, "kitchen-node")) == "kitchen-node"
    # TLS 1.3 reports a missing client certificate after the client's handshake, so the
    # refusal shows up either as a handshake error or as a connection closed with no data.
    try:
        got = asyncio.run(handshake(options, pki, None))
    except (ssl.SSLError, ConnectionError):
        got = None
    assert not got


def test_client_rejects_server_from_other_ca(pki, tmp_path) -> None:
    from .certs import make_pki

    other = make_pki(tmp_path / "other")
    options = TlsOptions(certfile=other.server_cert, keyfile=other.server_key)
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(handshake(options, pki, None))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"require_certificate": True}, "needs cafile"),
        ({"use_identity_as_username": True}, "needs require_certificate"),
        ({"min_version": "1.0"}, "min_version"),
    ],
)
def test_inconsistent_options(pki, kw, message: str) -> None:
    with pytest.raises(TlsConfigError, match=message):
        server_context(opts(pki, **kw))


def test_missing_files(tmp_path) -> None:
    with pytest.raises(TlsConfigError, match="cannot load"):
        server_context(TlsOptions(certfile=tmp_path / "no.crt", keyfile=tmp_path / "no.key"))


def test_old_protocols_refused(pki) -> None:
    context = server_context(opts(pki, min_version="1.3"))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert server_context(opts(pki)).minimum_version == ssl.TLSVersion.TLSv1_2


def test_common_name_parsing() -> None:
    cert = {"subject": ((("countryName", "DE"),), (("commonName", "node-9"),))}
    assert common_name(cert) == "node-9"
    assert common_name({}) is None and common_name(None) is None
    assert common_name({"subject": ((("organizationName", "x"),),)}) is None
