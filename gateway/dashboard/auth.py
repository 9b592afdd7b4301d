"""Who may see the dashboard: the broker's users, by the broker's password file.

A login is checked with :meth:`broker.auth.passwords.PasswordFile.verify` (Mosquitto's
format, the same file the broker reads), slowed by the broker's shared
:class:`~broker.auth.backoff.LoginGuard` (per address and per user, every listener and the
dashboard alike). A good login gets a signed cookie: username, expiry, a random session id
and an HMAC over them and the user's current password hash, with a key kept in the data
directory. Signed rather than stored, so sessions survive a gateway restart without a write
per login; bound to the hash, so changing a password ends that user's sessions. Logging out
writes the session id to a small revocation list beside the key (kept until the cookie
would have expired anyway), so the old cookie stops working on the server too.

Requests from the machine itself (loopback) need no login: whoever is on the box can read
the files anyway.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from broker.auth.passwords import PasswordFile
from broker.engine.addresses import is_loopback
from broker.store.private import FILE_MODE, private_dir

log = logging.getLogger(__name__)

COOKIE = "gw_session"
SESSION_LIFETIME = 30 * 86_400.0  # a phone on the home screen should not ask every day
_KEY_FILE = "dashboard.key"
_REVOKED_FILE = "dashboard-logouts.json"
#: logouts remembered at most; beyond it the soonest-expiring are forgotten first (a login
#: is needed for each entry, and the backoff slows wrong ones)
MAX_REVOKED = 10_000
_FORGOTTEN = ""


def is_loopback_host(host: str | None) -> bool:
    """True when a Host header names this machine's loopback: localhost, 127.x, [::1]."""
    if not host:
        return False
    name = host[1:host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
    return name.lower() == "localhost" or is_loopback(name)


def password_file_of(broker_settings: Mapping[str, Any]) -> str | None:
    """The password file in a ``[broker]`` config table: its own ``password_file``, else
    the first listener's (the dashboard has one set of users, as a one-listener broker)."""
    own = broker_settings.get("password_file")
    if own:
        return str(own)
    for listener in broker_settings.get("listeners") or []:
        found = (listener.get("password_file") if isinstance(listener, Mapping)
                 else getattr(listener, "password_file", None))
        if found:
            return str(found)
    return None


class Users:
    """The password file, re-read when it changes on disk (``gateway passwd`` edits it)."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self._file = PasswordFile()
        self._stamp: tuple[int, int] | None = None

    def current(self) -> PasswordFile:
        """The file's users as they are now; the last good copy if it became unreadable."""
        if self.path is None:
            return self._file
        try:
            stat = self.path.stat()
        except OSError:
            return self._file
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                self._file = PasswordFile.load(self.path)
                self._stamp = stamp
            except (OSError, ValueError):
                pass  # keep the previous users, as the broker's reload does
        return self._file

    @property
    def configured(self) -> bool:
        """False when no password file is set or it has no users: only loopback gets in."""
        return bool(self.current().entries)

    def verify(self, username: str, password: str) -> bool:
        """Check a password (blocking: PBKDF2; run it off the event loop)."""
        return self.current().verify(username, password)

    def fingerprint(self, username: str) -> bytes | None:
        """The user's stored hash, which signed sessions are bound to; None if no user."""
        entry = self.current().entries.get(username)
        return None if entry is None else entry.encode().encode("utf-8")


class SessionSigner:
    """Makes and checks the session cookie's value."""

    def __init__(self, key: bytes, users: Users, lifetime: float = SESSION_LIFETIME,
                 clock: Callable[[], float] = time.time,
                 revoked_file: Path | None = None) -> None:
        self.key = key
        self.users = users
        self.lifetime = lifetime
        self.clock = clock
        #: where the key still has to be saved (the disk was full when it was made)
        self.unsaved: Path | None = None
        self.revoked_file = revoked_file
        #: session id -> the time its cookie expires
        self.revoked: dict[str, int] = _load_revoked(revoked_file)
        #: cookies expiring at or before this are ended: logouts the bounded list forgot
        #: (filed under the empty session id, which no cookie has)
        self.ended_before = self.revoked.pop(_FORGOTTEN, 0)

    @classmethod
    def from_data_dir(cls, data_dir: Path, users: Users) -> SessionSigner:
        """Use the key in ``data_dir`` (created, mode 0600, on first use). A key that
        cannot be saved (a full disk) is used anyway, and saved at a later login: until
        then sessions end when the gateway restarts."""
        path = data_dir / _KEY_FILE
        try:
            key = path.read_bytes()
            # A key an older version left readable by every account signs anyone's cookie.
            if path.stat().st_mode & 0o077:
                os.chmod(path, FILE_MODE)
        except OSError:
            key = b""
        signer = cls(key, users, revoked_file=data_dir / _REVOKED_FILE)
        if len(key) < 32:
            signer.key = secrets.token_bytes(32)
            signer.unsaved = path
            if not signer._save_key():
                log.warning("dashboard: cannot save the session key in %s; logins last "
                            "until the gateway restarts (trying again at each login)", path)
        return signer

    def _save_key(self) -> bool:
        """Write the key beside its place and rename it there: a full disk leaves the old
        state (no empty or short key file)."""
        path = self.unsaved
        if path is None:
            return True
        tmp = path.with_name(path.name + ".tmp")
        try:
            private_dir(path.parent)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.key)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            log.debug("dashboard: saving %s: %s", path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
            return False
        self.unsaved = None
        return True

    def issue(self, username: str) -> str:
        """A cookie value for ``username``, valid for :attr:`lifetime` seconds."""
        if self.unsaved is not None and self._save_key():
            log.info("dashboard: session key saved")
        expires = int(self.clock() + self.lifetime)
        session = secrets.token_urlsafe(12)
        signature = self._sign(username, expires, session)
        if signature is None:
            raise KeyError(f"no user {username!r}")
        name = base64.urlsafe_b64encode(username.encode("utf-8")).decode("ascii")
        return f"{name}.{expires}.{session}.{signature}"

    def check(self, token: str | None) -> str | None:
        """The username a cookie value proves, or None (also once logged out)."""
        parsed = self._parse(token)
        if parsed is None:
            return None
        username, expires, session, signature = parsed
        if expires < self.clock() or expires <= self.ended_before or session in self.revoked:
            return None
        expected = self._sign(username, expires, session)
        if expected is None or not hmac.compare_digest(expected, signature):
            return None
        return username

    def revoke(self, token: str | None) -> bool:
        """End the session of a valid cookie value (logout); True when there was one.
        Remembered on disk, so a restart does not bring the session back."""
        if self.check(token) is None:
            return False
        parsed = self._parse(token)
        assert parsed is not None
        _, expires, session, _ = parsed
        now = self.clock()
        self.revoked = {s: e for s, e in self.revoked.items() if e >= now}
        self.revoked[session] = expires
        while len(self.revoked) > MAX_REVOKED:
            # Forgetting a logout must not revive its cookie (a user logging in and out
            # 10,000 times would revive every stolen one): the sessions that expire first
            # are forgotten, and every cookie expiring as early ends with them.
            oldest = min(self.revoked, key=self.revoked.__getitem__)
            self.ended_before = max(self.ended_before, self.revoked.pop(oldest))
        if self.revoked_file is not None:
            try:
                _save_revoked(self.revoked_file, {**self.revoked, _FORGOTTEN: self.ended_before})
            except OSError as exc:  # still ended for as long as this process runs
                log.error("dashboard: could not write %s: %s", self.revoked_file, exc)
        return True

    @staticmethod
    def _parse(token: str | None) -> tuple[str, int, str, str] | None:
        if not token or token.count(".") != 3:
            return None
        name, expires_text, session, signature = token.split(".")
        try:
            username = base64.urlsafe_b64decode(name.encode("ascii")).decode("utf-8")
            expires = int(expires_text)
        except (ValueError, UnicodeError):
            return None
        return username, expires, session, signature

    def _sign(self, username: str, expires: int, session: str) -> str | None:
        fingerprint = self.users.fingerprint(username)
        if fingerprint is None:
            return None
        message = b"\0".join([username.encode("utf-8"), str(expires).encode(),
                               session.encode("utf-8"), fingerprint])
        digest = hmac.new(self.key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _load_revoked(path: Path | None) -> dict[str, int]:
    """The remembered logouts; an unreadable or damaged file counts as none (the cookies it
    named then work again until they expire, which the log says)."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.error("dashboard: ignoring %s: %s", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, int)}


def _save_revoked(path: Path, revoked: dict[str, int]) -> None:
    """Write atomically, private (the file only holds random ids, but no one else needs it)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(revoked, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
