"""``gateway passwd``: add, change, delete and list users of a Mosquitto password file.

The files it writes are the ones ``mosquitto_passwd`` writes (PBKDF2-SHA512, ``$7$``), so
the same file serves this broker and Mosquitto. Run ``kill -HUP <gateway pid>`` (or restart)
afterwards so a running broker reads the change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from broker.auth.passwords import (
    DEFAULT_ITERATIONS,
    MAX_ITERATIONS,
    MIN_PASSWORD_LENGTH,
    PasswordFile,
    PasswordFileError,
    check_username,
)

_FILE = click.argument("password_file", type=click.Path(dir_okay=False, path_type=Path))
_USER = click.argument("username")
_PASSWORD = click.option(
    "--password",
    "-p",
    help="Password on the command line (visible to other users in 'ps'); prompted when "
    f"absent. At least {MIN_PASSWORD_LENGTH} characters.",
)
_ITERATIONS = click.option(
    "--iterations",
    type=click.IntRange(1, MAX_ITERATIONS),
    default=DEFAULT_ITERATIONS,
    show_default=True,
    help="PBKDF2 rounds: more is slower to guess and slower to check.",
)


def _password_args(func: Callable[..., None]) -> Callable[..., None]:
    """PASSWORD_FILE USERNAME [--password] [--iterations]: what add and change take."""
    for decorate in (_ITERATIONS, _PASSWORD, _USER, _FILE):
        func = decorate(func)
    return func


def _load(path: Path, *, must_exist: bool) -> PasswordFile:
    if not path.exists():
        if must_exist:
            raise click.ClickException(f"{path}: no such password file")
        return PasswordFile()
    try:
        return PasswordFile.load(path)
    except PasswordFileError as exc:
        raise click.ClickException(str(exc)) from None


def _ask_password(password: str | None) -> str:
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise click.ClickException("empty password refused")
    if len(password) < MIN_PASSWORD_LENGTH:
        # The users of this file sign in from the house network (MQTT, the dashboard).
        raise click.ClickException(
            f"password refused: {len(password)} characters, at least {MIN_PASSWORD_LENGTH} "
            "needed (a few words, or the kind the first boot generates)")
    return password


def _set(path: Path, username: str, password: str | None, iterations: int, *, new: bool) -> None:
    try:
        check_username(username)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    users = _load(path, must_exist=not new)
    if new and username in users.entries:
        raise click.ClickException(f"{username!r} already exists; use 'passwd change'")
    if not new and username not in users.entries:
        raise click.ClickException(f"{username!r} is not in {path}; use 'passwd add'")
    users.set_password(username, _ask_password(password), iterations)
    users.save(path)


@click.group("passwd")
def passwd_command() -> None:
    """Manage users in a Mosquitto-format password file."""


@passwd_command.command("add")
@_password_args
def add(password_file: Path, username: str, password: str | None, iterations: int) -> None:
    """Add USERNAME (creates PASSWORD_FILE when missing)."""
    _set(password_file, username, password, iterations, new=True)
    click.echo(f"added {username!r} to {password_file}")


@passwd_command.command("change")
@_password_args
def change(password_file: Path, username: str, password: str | None, iterations: int) -> None:
    """Set a new password for an existing USERNAME."""
    _set(password_file, username, password, iterations, new=False)
    click.echo(f"changed the password of {username!r} in {password_file}")


@passwd_command.command("delete")
@_FILE
@_USER
def delete(password_file: Path, username: str) -> None:
    """Remove USERNAME."""
    users = _load(password_file, must_exist=True)
    if username not in users.entries:
        raise click.ClickException(f"{username!r} is not in {password_file}")
    users.delete(username)
    users.save(password_file)
    click.echo(f"deleted {username!r} from {password_file}")


@passwd_command.command("list")
@_FILE
def list_users(password_file: Path) -> None:
    """Print the usernames, one per line."""
    for username in _load(password_file, must_exist=True).entries:
        click.echo(username)
