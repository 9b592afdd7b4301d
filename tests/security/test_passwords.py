"""Password files: interoperability with mosquitto_passwd and Mosquitto itself."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from broker.auth.passwords import PasswordFile, PasswordFileError, PasswordHash

needs_mosquitto_passwd = pytest.mark.skipif(
    shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd not installed"
)


def mosquitto_passwd(*args: str) -> None:
    subprocess.run(["mosquitto_passwd", *args], check=True, capture_output=True, timeout=60)


@needs_mosquitto_passwd
@pytest.mark.parametrize("algorithm", ["sha512-pbkdf2", "sha512"])
def test_files_made_by_mosquitto_passwd_verify(tmp_path: Path, algorithm: str) -> None:
    path = tmp_path / "passwd"
    mosquitto_passwd("-H", algorithm, "-c", "-b", str(path), "alice", "s3cret")
    mosquitto_passwd("-H", algorithm, "-b", str(path), "bob", "pä$$:wörd with spaces")
    users = PasswordFile.load(path)
    assert set(users.entries) == {"alice", "bob"}
    expected_kind = "pbkdf2-sha512" if algorithm == "sha512-pbkdf2" else "sha512"
    assert users.entries["alice"].kind == expected_kind
    assert users.verify("alice", "s3cret")
    assert users.verify("bob", "pä$$:wörd with spaces")
    assert not users.verify("alice", "s3cret ")
    assert not users.verify("alice", "")
    assert not users.verify("bob", "s3cret")
    assert not users.verify("carol", "s3cret")


@needs_mosquitto_passwd
def test_mosquitto_passwd_edits_our_file(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    users = PasswordFile()
    users.set_password("alice", "one", iterations=1000)
    users.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    mosquitto_passwd("-b", str(path), "bob", "two")
    reread = PasswordFile.load(path)
    assert reread.verify("alice", "one") and reread.verify("bob", "two")
    mosquitto_passwd("-D", str(path), "alice")
    assert list(PasswordFile.load(path).entries) == ["bob"]


def test_mosquitto_accepts_our_file(tmp_path: Path, mosquitto) -> None:
    if shutil.which("mosquitto_pub") is None:
        pytest.skip("mosquitto_pub not installed")
    path = tmp_path / "passwd"
    users = PasswordFile()
    users.set_password("alice", "right horse battery")
    users.set_password("bob", "other")
    users.save(path)
    port = mosquitto(f"allow_anonymous false\npassword_file {path}\n")

    def pub(user: str, password: str) -> int:
        return subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "t", "-m", "x",
             "-u", user, "-P", password, "-q", "1"],
            capture_output=True, timeout=60,
        ).returncode

    assert pub("alice", "right horse battery") == 0
    assert pub("bob", "other") == 0
    assert pub("alice", "wrong") != 0
    assert pub("mallory", "other") != 0


def test_round_trip_and_change() -> None:
    users = PasswordFile()
    users.set_password("alice", "a", iterations=500)
    users.set_password("bob", "b", iterations=500)
    text = users.dumps()
    assert text.startswith("alice:$7$500$")
    again = PasswordFile.parse(text.splitlines())
    assert again.verify("alice", "a") and again.verify("bob", b"b")
    again.set_password("alice", "new", iterations=500)
    assert again.verify("alice", "new") and not again.verify("alice", "a")
    again.delete("bob")
    assert list(again.entries) == ["alice"]
    with pytest.raises(KeyError):
        again.delete("bob")


def test_salts_differ() -> None:
    a = PasswordHash.create(b"same", 10)
    b = PasswordHash.create(b"same", 10)
    assert a.salt != b.salt and a.digest != b.digest


def test_comments_and_blank_lines_are_skipped() -> None:
    users = PasswordFile()
    users.set_password("x", "y", iterations=10)
    line = users.dumps()
    parsed = PasswordFile.parse(["# comment\n", "\n", line])
    assert parsed.verify("x", "y")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("no-colon-here", "expected 'username:hash'"),
        (":$7$10$AAAA$AAAA", "expected 'username:hash'"),
        ("u:plaintext", "neither"),
        ("u:$7$ten$AAAA$AAAA", "not a number"),
        ("u:$7$0$AAAA$AAAA", "out of range"),
        ("u:$7$99999999999$AAAA$AAAA", "out of range"),
        ("u:$7$10$!!!!$AAAA", "salt is not valid base64"),
        ("u:$7$10$AAAA$AAAA", "expected 64"),
    ],
)
def test_bad_lines_name_file_and_line(line: str, reason: str) -> None:
    with pytest.raises(PasswordFileError) as err:
        PasswordFile.parse(["# header\n", line + "\n"], source="/etc/gw/passwd")
    assert str(err.value).startswith("/etc/gw/passwd:2:")
    assert reason in str(err.value)


@pytest.mark.parametrize("bad", ["", "a:b", "a\nb"])
def test_unstorable_usernames_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        PasswordFile().set_password(bad, "pw")


def test_save_keeps_an_existing_files_mode_and_group_but_never_world(tmp_path: Path) -> None:
    """The appliance's service reads the password file through its group; an edit as root
    (`gateway passwd add`) must not take that away, nor make the hashes world-readable."""
    import os

    path = tmp_path / "passwd"
    users = PasswordFile()
    users.set_password("alice", "one", iterations=1000)
    users.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    others = [g for g in os.getgroups() if g != os.getegid()]
    # root may give the file any group; another user only one of its own.
    group = 1 if os.geteuid() == 0 else (others[0] if others else None)
    os.chmod(path, 0o644)
    if group is not None:
        os.chown(path, -1, group)
    users.set_password("bob", "two", iterations=1000)
    users.save(path)
    assert path.stat().st_mode & 0o777 == 0o640
    if group is not None:
        assert path.stat().st_gid == group
    assert PasswordFile.load(path).verify("bob", "two")
