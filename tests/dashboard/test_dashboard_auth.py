"""Session cookies: logout revokes on the server, across restarts, within a bounded list;
where the login form may redirect."""

from __future__ import annotations

from pathlib import Path

from dash_helpers import USER, write_users
from support.clock import FakeClock

from gateway.dashboard import auth
from gateway.dashboard.auth import SessionSigner, Users
from gateway.dashboard.redirects import safe_next


def signer(tmp_path: Path) -> tuple[SessionSigner, FakeClock]:
    """The signer as a (re)started dashboard makes it: same data directory, same users."""
    passwd = tmp_path / "passwd"
    users = Users(passwd if passwd.exists() else write_users(passwd))
    made = SessionSigner.from_data_dir(tmp_path / "data", users)
    made.clock = clock = FakeClock(1_000_000.0)
    return made, clock


def test_revoked_sessions_stay_revoked_across_restarts(tmp_path: Path) -> None:
    first, _ = signer(tmp_path)
    kept, ended = first.issue(USER), first.issue(USER)
    assert first.revoke(ended) and not first.revoke(ended)  # a second logout: nothing left
    assert first.check(ended) is None and first.check(kept) == USER
    again, _ = signer(tmp_path)  # the gateway restarted
    assert again.check(ended) is None and again.check(kept) == USER
    assert (tmp_path / "data" / "dashboard-logouts.json").stat().st_mode & 0o077 == 0


def test_revocation_list_forgets_expired_and_is_bounded(tmp_path: Path, monkeypatch) -> None:
    made, clock = signer(tmp_path)
    old = made.issue(USER)
    made.revoke(old)
    clock.now += made.lifetime + 1  # the cookie expired anyway: no need to remember it
    made.revoke(made.issue(USER))
    assert len(made.revoked) == 1
    monkeypatch.setattr(auth, "MAX_REVOKED", 3)
    for _ in range(5):
        clock.now += 1
        made.revoke(made.issue(USER))
    assert len(made.revoked) == 3


def test_logouts_forgotten_by_the_bounded_list_stay_ended(tmp_path: Path,
                                                         monkeypatch) -> None:
    """A signed-in user logging in and out until the list overflows must not bring back a
    cookie that was logged out (one copied from someone else's browser)."""
    monkeypatch.setattr(auth, "MAX_REVOKED", 3)
    made, clock = signer(tmp_path)
    stolen = made.issue(USER)
    made.revoke(stolen)  # its owner signed out; someone kept a copy
    clock.now += 1
    kept = made.issue(USER)  # a session still in use on another device
    for _ in range(5):  # the attacker's own logins and logouts
        clock.now += 1
        made.revoke(made.issue(USER))
    assert len(made.revoked) == 3
    assert made.check(stolen) is None
    again, clock = signer(tmp_path)  # also after a restart
    clock.now = made.clock() + 1
    assert again.check(stolen) is None
    assert again.check(again.issue(USER)) == USER  # new logins work
    # Issued before the forgotten logouts expire: ended with them (it fails closed).
    assert again.check(kept) is None


def test_a_damaged_logout_file_is_ignored_with_a_log(tmp_path: Path, caplog) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dashboard-logouts.json").write_text("{not json")
    made, _ = signer(tmp_path)
    assert made.check(made.issue(USER)) == USER
    assert "ignoring" in caplog.text


def test_safe_next_keeps_paths_of_this_box_only() -> None:
    for kept in ("/", "/?room=hall", "/static/app.js#x"):
        assert safe_next(kept) == kept
    for evil in ("/\t/evil.example/", "/\n/evil.example", "/\\evil.example", "//evil.example",
                 "///evil.example", "https://evil.example", "/.//evil.example", "evil.example",
                 "/\x7f/evil.example", "", "javascript:alert(1)"):
        assert safe_next(evil) == "/", repr(evil)
