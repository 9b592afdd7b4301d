"""TLS for listeners: the server SSLContext and the client certificate's CN.

Options mirror Mosquitto's listener settings (``certfile``, ``keyfile``, ``cafile``,
``require_certificate``, ``use_identity_as_username``) so a Mosquitto setup carries over.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Any

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class TlsConfigError(ValueError):
    """TLS options that cannot work together, or files that cannot be loaded."""


@dataclass(frozen=True)
class TlsOptions:
    """One listener's TLS settings."""

    certfile: str | os.PathLike[str]
    keyfile: str | os.PathLike[str]
    cafile: str | os.PathLike[str] | None = None  # CA that signs client certificates
    require_certificate: bool = False  # refuse clients without a certificate from cafile
    use_identity_as_username: bool = False  # the client certificate's CN is the username
    min_version: str = "1.2"  # "1.2" or "1.3"; older versions are never offered
    ciphers: str | None = None  # OpenSSL cipher string for TLS 1.2; None: Python's defaults


def server_context(options: TlsOptions) -> ssl.SSLContext:
    """An SSLContext for a listener; raises TlsConfigError naming what is wrong."""
    if options.require_certificate and not options.cafile:
        raise TlsConfigError("require_certificate needs cafile (the CA of client certificates)")
    if options.use_identity_as_username and not options.require_certificate:
        # Without a required, verified certificate there is no identity to trust.
        raise TlsConfigError("use_identity_as_username needs require_certificate")
    if options.min_version not in _VERSIONS:
        raise TlsConfigError(f"min_version must be one of {sorted(_VERSIONS)}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = _VERSIONS[options.min_version]
    try:
        context.load_cert_chain(options.certfile, options.keyfile)
        if options.cafile:
            context.load_verify_locations(cafile=options.cafile)
        if options.ciphers:
            context.set_ciphers(options.ciphers)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"cannot load TLS files: {exc}") from exc
    if options.require_certificate:
        context.verify_mode = ssl.CERT_REQUIRED
    elif options.cafile:
        context.verify_mode = ssl.CERT_OPTIONAL  # verify a certificate when one is offered
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


def common_name(peercert: dict[str, Any] | None) -> str | None:
    """The subject CN of a verified peer certificate (``getpeercert()`` output), or None.

    Python only fills ``subject`` for certificates that passed verification, so an
    unverified certificate never yields an identity.
    """
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def peer_common_name(transport: Any) -> str | None:
    """The verified client certificate's CN on an asyncio transport (None without TLS)."""
    return common_name(transport.get_extra_info("peercert"))
