"""The broker's ``Policy`` (docs/contracts.md) built from a password file and an ACL file.

One :class:`FilePolicy` serves one listener. Both files are read at construction and again on
:meth:`FilePolicy.reload` (``Broker.reload``, on SIGHUP); a reload that fails to
parse keeps the previous files in force and logs why, so a typo never locks everybody out
or lets everybody in. Connected clients stay connected: later checks use the new rules.

Rules, as in Mosquitto:

* no username: accepted only when ``allow_anonymous``;
* a username with a password file: the password must match (wrong passwords slow down per
  address and per user, see :mod:`broker.auth.backoff`; one guard for every listener);
* a username without a password file: accepted when ``allow_anonymous`` (the name is then
  only a label for the ACL), refused otherwise;
* ``use_identity_as_username``: a client that presented a verified certificate is accepted
  and its certificate's CN is the username for the ACL;
* no ACL file: every authenticated client may publish, subscribe and read everything.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Protocol

from broker.auth.acl import Acl
from broker.auth.backoff import LoginBackoff, LoginGuard, as_guard
from broker.auth.passwords import PasswordFile
from broker.engine.addresses import peer_host
from broker.engine.policy import Policy

log = logging.getLogger("broker.auth")


class ClientLike(Protocol):
    """The fields of ``broker.engine.policy.ClientInfo`` this policy reads."""

    client_id: str
    username: str | None
    peer: str
    cert_cn: str | None
    password_ok: bool | None


class FilePolicy(Policy):
    """Authentication and authorization from Mosquitto-format files, reloadable."""

    def __init__(
        self,
        *,
        password_file: str | os.PathLike[str] | None = None,
        acl_file: str | os.PathLike[str] | None = None,
        allow_anonymous: bool = False,
        use_identity_as_username: bool = False,
        backoff: LoginBackoff | LoginGuard | None = None,
    ) -> None:
        self.password_file = password_file
        self.acl_file = acl_file
        self.allow_anonymous = allow_anonymous
        self.use_identity_as_username = use_identity_as_username
        #: the gateway's shared guard (per address and per user), or a private one
        self.guard = as_guard(backoff)
        self.passwords: PasswordFile | None = None
        self.acl: Acl | None = None
        self.passwords, self.acl = self._read_files()  # errors here stop startup

    def _read_files(self) -> tuple[PasswordFile | None, Acl | None]:
        passwords = PasswordFile.load(self.password_file) if self.password_file else None
        acl = Acl.load(self.acl_file) if self.acl_file else None
        return passwords, acl

    def reload(self) -> bool:
        """Re-read both files; on any error keep the old ones. True when reloaded."""
        try:
            passwords, acl = self._read_files()
        except (OSError, ValueError) as exc:
            log.error("security files not reloaded, keeping the previous ones: %s", exc)
            return False
        self.passwords, self.acl = passwords, acl
        log.info(
            "security files reloaded (%s users, ACL %s)",
            len(passwords.entries) if passwords else "no password file,",
            "on" if acl else "off",
        )
        return True

    # -- the Policy protocol -----------------------------------------------------------

    def password_check(
        self, client: ClientLike, username: str | None, password: bytes | None
    ) -> Callable[[], bool] | None:
        """The slow part of :meth:`authenticate` (PBKDF2), for the I/O shell to run off the
        event loop; it then sets ``client.password_ok`` and calls :meth:`authenticate`.
        None when the answer needs no hashing (no password to check, or a waiting address
        or user: :meth:`authenticate` refuses it unchecked). Thread-safe: the check reads
        the file as loaded now."""
        passwords = self.passwords
        if passwords is None or username is None or (
                self.use_identity_as_username and client.cert_cn):
            return None
        address = peer_host(client.peer)
        if not self.guard.begin(address, username):
            return None
        secret = password or b""
        return lambda: passwords.verify(username, secret)

    def authenticate(
        self, client: ClientLike, username: str | None, password: bytes | None
    ) -> bool:
        """Decide a CONNECT; see the module docstring for the rules. Takes the answer of
        :meth:`password_check` when the shell ran it, else checks here (blocking)."""
        if self.use_identity_as_username and client.cert_cn:
            return True  # the TLS handshake already verified the certificate chain
        if username is None:
            return self.allow_anonymous
        if self.passwords is None:
            return self.allow_anonymous
        address = peer_host(client.peer)
        ok = getattr(client, "password_ok", None)
        if ok is None:
            if not self.guard.begin(address, username):
                log.warning("login for %r from %s refused unchecked: too many wrong passwords "
                            "(%.0f s to wait)", username, address,
                            self.guard.wait_remaining(address, username))
                return False
            ok = self.passwords.verify(username, password or b"")
        if ok:
            self.guard.succeeded(address, username)
            return True
        log.warning("wrong password for %r from %s (next try in %.0f s)", username, address,
                    self.guard.wait_remaining(address, username))
        return False

    def username_for_acl(self, client: ClientLike) -> str | None:
        """The name ACL ``user`` sections and ``%u`` see for this client."""
        if self.use_identity_as_username and client.cert_cn:
            return client.cert_cn
        return client.username

    def can_publish(self, client: ClientLike, topic: str) -> bool:
        """May ``client`` publish on ``topic``?"""
        acl = self.acl
        return acl is None or acl.can_write(self.username_for_acl(client), client.client_id, topic)

    def can_subscribe(self, client: ClientLike, topic_filter: str) -> bool:
        """May ``client`` subscribe to ``topic_filter``? (False: SUBACK 0x80 / 0x87.)"""
        acl = self.acl
        return acl is None or acl.can_subscribe(
            self.username_for_acl(client), client.client_id, topic_filter
        )

    def can_read(self, client: ClientLike, topic: str) -> bool:
        """May ``client`` receive a message published on ``topic``?"""
        acl = self.acl
        return acl is None or acl.can_read(self.username_for_acl(client), client.client_id, topic)
