"""The `passwd` click command (add/change/delete/list)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from broker.auth.passwd_cli import passwd_command
from broker.auth.passwords import PasswordFile


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(passwd_command, list(args), input=stdin)


def test_add_change_delete_list(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "passwd"
    path.parent.mkdir()
    result = run("add", str(path), "alice", stdin="pw1\npw1\n")
    assert result.exit_code == 0, result.output
    assert PasswordFile.load(path).verify("alice", "pw1")
    assert run("add", str(path), "bob", "--password", "pw2", "--iterations", "500").exit_code == 0
    assert "$7$500$" in path.read_text()

    dup = run("add", str(path), "alice", "-p", "x")
    assert dup.exit_code != 0 and "already exists" in dup.output

    assert run("change", str(path), "alice", "-p", "new").exit_code == 0
    users = PasswordFile.load(path)
    assert users.verify("alice", "new") and users.verify("bob", "pw2")

    missing = run("change", str(path), "carol", "-p", "x")
    assert missing.exit_code != 0 and "use 'passwd add'" in missing.output

    assert run("list", str(path)).output.split() == ["alice", "bob"]
    assert run("delete", str(path), "alice").exit_code == 0
    assert run("list", str(path)).output.split() == ["bob"]
    assert run("delete", str(path), "alice").exit_code != 0


def test_refusals(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    mismatch = run("add", str(path), "alice", stdin="a\nb\na\na\n")
    assert mismatch.exit_code == 0  # click asks again after a mismatch
    assert PasswordFile.load(path).verify("alice", "a")
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
    assert run("add", str(path), "new", "-p", "pw").exit_code == 0
    users = PasswordFile.load(path)
    assert users.verify("old", "pw") and users.verify("new", "pw")
