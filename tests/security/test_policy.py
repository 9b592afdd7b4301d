"""FilePolicy: the broker's Policy from a password file and an ACL file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from broker.auth.backoff import LoginBackoff
from broker.auth.passwords import PasswordFile
from broker.auth.policy import FilePolicy


@dataclass
class Client:
    client_id: str = "c1"
    username: str | None = None
    peer: str = "192.0.2.7:40000"
    listener: str = "default"
    cert_cn: str | None = None
    password_ok: bool | None = None


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    users = PasswordFile()
    users.set_password("alice", "wonder", iterations=100)
    users.set_password("bob", "builder", iterations=100)
    pw = tmp_path / "passwd"
    users.save(pw)
    acl = tmp_path / "acl"
    acl.write_text("topic read public/#\nuser alice\ntopic home/#\nuser sensor.example\ntopic write home/+/temp\n")
    return pw, acl


def test_passwords_and_anonymous(files) -> None:
    pw, acl = files
    closed = FilePolicy(password_file=pw, acl_file=acl)
    assert closed.authenticate(Client(), "alice", b"wonder")
    assert not closed.authenticate(Client(), "alice", b"wrong")
    assert not closed.authenticate(Client(), "alice", None)
    assert not closed.authenticate(Client(), "mallory", b"wonder")
    assert not closed.authenticate(Client(), None, None)
    assert FilePolicy(password_file=pw, allow_anonymous=True).authenticate(Client(), None, None)
    # no password file: usernames are labels, accepted only with allow_anonymous
    assert not FilePolicy().authenticate(Client(), "x", b"y")
    assert FilePolicy(allow_anonymous=True).authenticate(Client(), "x", b"y")


def test_acl_checks(files) -> None:
    pw, acl = files
    policy = FilePolicy(password_file=pw, acl_file=acl, allow_anonymous=True)
    alice, anon = Client(username="alice"), Client()
    assert policy.can_publish(alice, "home/lamp/set")
    assert policy.can_read(alice, "home/kitchen/temp")
    assert policy.can_subscribe(alice, "home/#")
    assert not policy.can_subscribe(alice, "public/#")
    assert policy.can_subscribe(anon, "public/#") and not policy.can_publish(anon, "public/x")
    # without an ACL file everything is allowed
    open_policy = FilePolicy(password_file=pw)
    assert open_policy.can_publish(anon, "any/thing") and open_policy.can_subscribe(anon, "#")


def test_certificate_cn_is_the_username(files) -> None:
    pw, acl = files
    policy = FilePolicy(password_file=pw, acl_file=acl, use_identity_as_username=True)
    node = Client(cert_cn="sensor.example", username=None)
    assert policy.authenticate(node, None, None)
    assert policy.can_publish(node, "home/attic/temp")
    assert not policy.can_publish(node, "home/attic/humidity")
    # without a certificate, the password rules apply as usual
    assert not policy.authenticate(Client(), None, None)
    assert policy.authenticate(Client(), "bob", b"builder")
    # when the option is off, the CN is ignored
    plain = FilePolicy(password_file=pw, acl_file=acl)
    assert not plain.authenticate(node, None, None)


def test_wrong_passwords_slow_down_per_address(files) -> None:
    pw, _ = files
    now = [0.0]
    policy = FilePolicy(
        password_file=pw, backoff=LoginBackoff(free_failures=2, base_delay=30, clock=lambda: now[0])
    )
    attacker, other = Client(peer="192.0.2.66:1111"), Client(peer="192.0.2.67:2222")
    for _ in range(3):
        assert not policy.authenticate(attacker, "alice", b"guess")
    # now blocked: even the right password fails, from any port of that address
    assert not policy.authenticate(Client(peer="192.0.2.66:3333"), "alice", b"wonder")
    assert policy.authenticate(other, "alice", b"wonder")  # other addresses unaffected
    now[0] += 31
    assert policy.authenticate(attacker, "alice", b"wonder")
    assert policy.guard.addresses.wait_remaining("192.0.2.66") == 0


def test_reload_keeps_old_rules_on_error(files, caplog) -> None:
    pw, acl = files
    policy = FilePolicy(password_file=pw, acl_file=acl)
    client = Client(username="alice")
    assert policy.can_publish(client, "home/x")
    acl.write_text("user alice\ntopic read home/#\n")
    assert policy.reload()
    assert not policy.can_publish(client, "home/x") and policy.can_read(client, "home/x")
    acl.write_text("user alice\ntopic bogus/#/x\n")
    assert not policy.reload()
    assert "acl:2" in caplog.text
    assert policy.can_read(client, "home/x")  # previous rules still in force
    pw.write_text("alice:garbage\n")
    assert not policy.reload()
    assert policy.authenticate(Client(), "alice", b"wonder")


def test_bad_files_stop_startup(tmp_path: Path) -> None:
    bad = tmp_path / "acl"
    bad.write_text("nonsense\n")
    with pytest.raises(ValueError, match="acl:1"):
        FilePolicy(acl_file=bad)
    with pytest.raises(OSError):
        FilePolicy(password_file=tmp_path / "missing")


def test_listener_policies(files) -> None:
    from broker.engine.policy import ByListener

    pw, acl = files
    lan = FilePolicy(password_file=pw, acl_file=acl)
    local = FilePolicy(allow_anonymous=True)
    policies = ByListener({"lan": lan}, default=local)
    assert policies.authenticate(Client(listener="loopback"), None, None)
    assert not policies.authenticate(Client(listener="lan"), None, None)
    assert policies.authenticate(Client(listener="lan"), "alice", b"wonder")
    assert policies.can_publish(Client(listener="loopback"), "anything")
    assert not policies.can_publish(Client(listener="lan", username="bob"), "home/x")
    assert policies.can_subscribe(Client(listener="lan", username="alice"), "home/#")
    assert not policies.can_read(Client(listener="lan", username="bob"), "home/x")
    acl.write_text("user bob\ntopic home/#\n")
    assert policies.reload()
    assert policies.can_read(Client(listener="lan", username="bob"), "home/x")


def test_password_check_is_the_slow_part_and_authenticate_takes_its_answer(files) -> None:
    """The shell runs password_check's job off the loop and hands back its answer."""
    pw, _ = files
    policy = FilePolicy(password_file=pw)
    assert policy.password_check(Client(), None, None) is None  # nothing to hash
    right, wrong = Client(peer="192.0.2.70:1"), Client(peer="192.0.2.71:1")
    job = policy.password_check(right, "alice", b"wonder")
    assert job is not None and job() is True
    right.password_ok = True
    assert policy.authenticate(right, "alice", b"wonder")
    job = policy.password_check(wrong, "alice", b"guess")
    assert job is not None and job() is False
    wrong.password_ok = False
    assert not policy.authenticate(wrong, "alice", b"guess")
    # Counted from the start of the check: with two more in flight (three wrong passwords
    # from this address), a fourth sent at once is refused unchecked, not hashed.
    for port in (2, 3):
        assert policy.password_check(Client(peer=f"192.0.2.71:{port}"), "alice", b"g") is not None
    assert policy.password_check(Client(peer="192.0.2.71:4"), "alice", b"g") is None
