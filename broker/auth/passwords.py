"""Mosquitto-compatible password files.

Each line is ``username:<hash>``. Two hash formats exist, both with base64 fields:

* ``$7$<iterations>$<salt>$<hash>``: PBKDF2-HMAC-SHA512 (what ``mosquitto_passwd`` writes
  since Mosquitto 2.0). We read and write it.
* ``$6$<salt>$<hash>``: one round of SHA512 over password + salt (Mosquitto 1.6 and
  earlier). We only read it, so old files keep working; ``passwd change`` upgrades a user.

Lines that are empty or start with ``#`` are ignored, as Mosquitto does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# mosquitto_passwd 2.0.x writes 101 iterations, which is weak against offline guessing; our
# files use more. Mosquitto reads the count from each entry, so it accepts ours unchanged.
DEFAULT_ITERATIONS = 20_000
SALT_BYTES = 12  # mosquitto_passwd's salt length
HASH_BYTES = 64  # SHA512 digest length; Mosquitto expects exactly this
MAX_ITERATIONS = 10_000_000  # refuse absurd counts from a hostile file (CPU exhaustion)
#: the shortest password ``gateway passwd`` sets: as long as the generated ones
#: (gateway/firstboot/credentials.py); a backoff slows online guessing, not a stolen file
MIN_PASSWORD_LENGTH = 16


class PasswordFileError(ValueError):
    """A password file that cannot be parsed; the message names the file and line."""


@dataclass(frozen=True)
class PasswordHash:
    """One stored password hash in either of Mosquitto's formats."""

    kind: str  # "pbkdf2-sha512" ($7$) or "sha512" ($6$)
    iterations: int
    salt: bytes
    digest: bytes

    def verify(self, password: bytes) -> bool:
        """True when ``password`` produces this hash (constant-time comparison)."""
        if self.kind == "sha512":
            candidate = hashlib.sha512(password + self.salt).digest()
        else:
            candidate = hashlib.pbkdf2_hmac(
                "sha512", password, self.salt, self.iterations, len(self.digest)
            )
        return hmac.compare_digest(candidate, self.digest)

    def encode(self) -> str:
        """The text Mosquitto stores after ``username:``."""
        salt = base64.b64encode(self.salt).decode("ascii")
        digest = base64.b64encode(self.digest).decode("ascii")
        if self.kind == "sha512":
            return f"$6${salt}${digest}"
        return f"$7${self.iterations}${salt}${digest}"

    @classmethod
    def create(cls, password: bytes, iterations: int = DEFAULT_ITERATIONS) -> PasswordHash:
        """A fresh PBKDF2-SHA512 hash of ``password`` with a random salt."""
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise ValueError(f"iterations must be between 1 and {MAX_ITERATIONS}")
        salt = secrets.token_bytes(SALT_BYTES)
        digest = hashlib.pbkdf2_hmac("sha512", password, salt, iterations, HASH_BYTES)
        return cls("pbkdf2-sha512", iterations, salt, digest)

    @classmethod
    def parse(cls, text: str) -> PasswordHash:
        """Parse the part after ``username:``; raises ValueError with the reason."""
        fields = text.split("$")
        if len(fields) == 5 and fields[0] == "" and fields[1] == "7":
            try:
                iterations = int(fields[2])
            except ValueError:
                raise ValueError("iteration count is not a number") from None
            if not 1 <= iterations <= MAX_ITERATIONS:
                raise ValueError(f"iteration count {iterations} out of range")
            salt, digest = _b64(fields[3], "salt"), _b64(fields[4], "hash")
            kind = "pbkdf2-sha512"
        elif len(fields) == 4 and fields[0] == "" and fields[1] == "6":
            iterations = 1
            salt, digest = _b64(fields[2], "salt"), _b64(fields[3], "hash")
            kind = "sha512"
        else:
            raise ValueError("hash is neither $7$<iterations>$<salt>$<hash> nor $6$<salt>$<hash>")
        if len(digest) != HASH_BYTES:
            raise ValueError(f"hash is {len(digest)} bytes, expected {HASH_BYTES}")
        return cls(kind, iterations, salt, digest)


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None


# A hash to check against when the user does not exist, so that an unknown user costs the
# same time as a wrong password and usernames cannot be probed by timing.
_DUMMY_HASH = PasswordHash.create(b"\x00unknown-user", DEFAULT_ITERATIONS)


class PasswordFile:
    """The users of one password file, in file order."""

    def __init__(self, entries: dict[str, PasswordHash] | None = None) -> None:
        self.entries: dict[str, PasswordHash] = dict(entries or {})

    @classmethod
    def parse(cls, lines: Iterable[str], source: str = "<password file>") -> PasswordFile:
        """Parse password-file lines; errors name ``source`` and the line number."""
        entries: dict[str, PasswordHash] = {}
        for number, raw in enumerate(lines, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            # The username ends at the first colon, as in Mosquitto; mosquitto_passwd refuses
            # usernames containing ':' so nothing else can be meant.
            user, sep, hashed = line.partition(":")
            if not sep or not user:
                raise PasswordFileError(f"{source}:{number}: expected 'username:hash'")
            try:
                entries[user] = PasswordHash.parse(hashed.strip())
            except ValueError as exc:
                raise PasswordFileError(f"{source}:{number}: user {user!r}: {exc}") from None
        return cls(entries)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PasswordFile:
        """Read and parse the file at ``path``."""
        with open(path, encoding="utf-8") as fh:
            return cls.parse(fh, source=str(path))

    def verify(self, username: str, password: bytes | str) -> bool:
        """True when ``username`` exists and ``password`` matches its hash."""
        if isinstance(password, str):
            password = password.encode("utf-8")
        entry = self.entries.get(username)
        if entry is None:
            _DUMMY_HASH.verify(password)  # same cost as a real check; result ignored
            return False
        return entry.verify(password)

    def set_password(
        self, username: str, password: bytes | str, iterations: int = DEFAULT_ITERATIONS
    ) -> None:
        """Add ``username`` or replace its password with a fresh PBKDF2 hash."""
        check_username(username)
        if isinstance(password, str):
            password = password.encode("utf-8")
        self.entries[username] = PasswordHash.create(password, iterations)

    def delete(self, username: str) -> None:
        """Remove ``username``; KeyError when it is not there."""
        del self.entries[username]

    def dumps(self) -> str:
        """The file's text in Mosquitto's format."""
        return "".join(f"{user}:{entry.encode()}\n" for user, entry in self.entries.items())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the file atomically. A new file gets mode 0600 (it holds password hashes);
        an existing one keeps its mode and group, so a service that reads it through its
        group (the appliance's ``sensor-gateway`` user) still can after an edit as root."""
        target = Path(path)
        try:
            before = target.stat()
        except FileNotFoundError:
            before = None
        fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.dumps())
            if before is None:
                os.chmod(tmp, 0o600)
            else:
                os.chmod(tmp, stat.S_IMODE(before.st_mode) & 0o770)  # never world-readable
                if before.st_gid != os.getegid():
                    with contextlib.suppress(PermissionError):
                        os.chown(tmp, -1, before.st_gid)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def check_username(username: str) -> None:
    """Raise ValueError for usernames Mosquitto's format cannot store or ACLs cannot use."""
    if not username:
        raise ValueError("username is empty")
    if ":" in username:
        raise ValueError("username must not contain ':'")
    if any(ch in username for ch in "\r\n\x00"):
        raise ValueError("username must not contain line breaks or NUL")
