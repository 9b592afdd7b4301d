"""The `passwd` click command (add/change/delete/list)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from broker.auth.passwd_cli import passwd_command
from broker.auth.passwords import MIN_PASSWORD_LENGTH, PasswordFile

PW1, PW2, NEW = "first long password", "second long password", "a new long password"


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(passwd_command, list(args), input=stdin)


def test_add_change_delete_list(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "passwd"
    path.parent.mkdir()
    result = run("add", str(path), "alice", stdin=f"{PW1}\n{PW1}\n")
    assert result.exit_code == 0, result.output
    assert PasswordFile.load(path).verify("alice", PW1)
    assert run("add", str(path), "bob", "--password", PW2, "--iterations", "500").exit_code == 0
    assert "$7$500$" in path.read_text()

    dup = run("add", str(path), "alice", "-p", "x")
    assert dup.exit_code != 0 and "already exists" in dup.output

    assert run("change", str(path), "alice", "-p", NEW).exit_code == 0
    users = PasswordFile.load(path)
    assert users.verify("alice", NEW) and users.verify("bob", PW2)

    missing = run("change", str(path), "carol", "-p", "x")
    assert missing.exit_code != 0 and "use 'passwd add'" in missing.output

    assert run("list", str(path)).output.split() == ["alice", "bob"]
    assert run("delete", str(path), "alice").exit_code == 0
    assert run("list", str(path)).output.split() == ["bob"]
    assert run("delete", str(path), "alice").exit_code != 0


def test_refusals(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    mismatch = run("add", str(path), "alice", stdin=f"{PW1}\n{PW2}\n{PW1}\n{PW1}\n")
    assert mismatch.exit_code == 0  # click asks again after a mismatch
    assert PasswordFile.load(path).verify("alice", PW1)
    assert run("add", str(path), "bad:name", "-p", "x").exit_code != 0
    assert run("add", str(path), "empty", "-p", "").exit_code != 0
    assert run("delete", str(tmp_path / "nope"), "alice").exit_code != 0
    (tmp_path / "broken").write_text("x:$7$1$AAAA$AAAA\n")
    broken = run("list", str(tmp_path / "broken"))
    assert broken.exit_code != 0 and "broken:1" in broken.output


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto_passwd")
def test_reads_files_from_mosquitto_passwd(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "old", "pw"], check=True, timeout=60)
    assert run("add", str(path), "new", "-p", PW1).exit_code == 0
    users = PasswordFile.load(path)
    assert users.verify("old", "pw") and users.verify("new", PW1)


def test_short_passwords_refused(tmp_path: Path) -> None:
    """`gateway passwd add --password a` is refused: as long as the generated ones, at least."""
    from gateway.firstboot.credentials import generate_password

    path = tmp_path / "passwd"
    for short in ("a", "x" * (MIN_PASSWORD_LENGTH - 1)):
        refused = run("add", str(path), "alice", "--password", short)
        assert refused.exit_code != 0 and f"at least {MIN_PASSWORD_LENGTH}" in refused.output
        refused = run("add", str(path), "alice", stdin=f"{short}\n{short}\n")
        assert refused.exit_code != 0
    assert not path.exists()
    generated = generate_password()
    assert run("add", str(path), "alice", "-p", generated).exit_code == 0
    assert run("change", str(path), "alice", "-p", "short").exit_code != 0
    assert PasswordFile.load(path).verify("alice", generated)
