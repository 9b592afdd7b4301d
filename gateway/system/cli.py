"""``gateway system backup FILE`` and ``gateway system restore FILE``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click

from gateway.config import ConfigErrors, load_config
from gateway.system.archive import BackupError
from gateway.system.backup import make_backup
from gateway.system.contents import APPLIANCE_BOOT_FILE, gateway_parts, state_dir
from gateway.system.health import check_health, default_timeout, mark_slot
from gateway.system.pending import apply_pending
from gateway.system.restore import restore_backup
from gateway.system.update import install_update, reboot, reboot_command
from gateway.system.update_rauc import Rauc, UpdateError
from gateway.system.update_status import describe, update_status

DEFAULT_CONFIG = "/etc/sensor-gateway/gateway.toml"
SERVICE = "sensor-gateway.service"


@click.group("system")
def system_command() -> None:
    """Back up this gateway into one file and restore it (e.g. onto a new SD card); update
    it in place (A/B image) and check its health."""


@system_command.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--config", "-c", "config_path", default=DEFAULT_CONFIG, show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The gateway's config.")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="The gateway's data directory, as given to `gateway run` (default: the "
                   "config's, else the service's).")
@click.option("--boot", "boot_dir", default=APPLIANCE_BOOT_FILE.parent, show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Boot partition: its gateway.toml goes into the backup when there is one.")
def backup(file: Path, config_path: Path, data_dir: Path | None, boot_dir: Path) -> None:
    """Write everything that makes this gateway this gateway to FILE, while it runs: config,
    users, ACLs, TLS keys, the broker's retained messages and sessions, the history and the
    discovery record. FILE holds password hashes and private keys: it is made readable by
    you alone; keep it that way."""
    try:
        config = load_config(config_path)
    except ConfigErrors as exc:
        raise click.ClickException("cannot read the config:\n" +
                                   "\n".join(str(e) for e in exc.errors)) from None
    parts = gateway_parts(config, state_dir(config, data_dir), boot_dir / APPLIANCE_BOOT_FILE.name)
    try:
        manifest = make_backup(parts, file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    for entry in manifest.entries:
        click.echo(f"  {entry.role}: {entry.path}")
    click.echo(f"{file}: {len(manifest.entries)} files, {file.stat().st_size} bytes")


@system_command.command("restore")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--root", default=Path("/"), type=click.Path(file_okay=False, path_type=Path),
              help="Restore into this directory as if it were / (a card mounted elsewhere).")
@click.option("--pending", "pending_dir", default=None, metavar="DATA_DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Instead of FILE: the backup uploaded to the dashboard of the gateway with "
                   "this data directory, if there is one (first boot does this on the "
                   "appliance; a refused backup is reported and nothing changes).")
def restore(file: Path | None, root: Path, pending_dir: Path | None) -> None:
    """Put the gateway saved in FILE back: each file where it was. FILE is checked whole
    first; a damaged file, or one from a newer gateway, changes nothing. On the appliance
    the service is stopped meanwhile and started again."""
    if pending_dir is not None:
        try:
            manifest = apply_pending(pending_dir, root)
        except BackupError as exc:
            click.echo(str(exc), err=True)
            return
        if manifest is not None:
            click.echo(f"restored {len(manifest.entries)} files from the uploaded backup "
                       f"(made {manifest.created} on {manifest.hostname})")
        return
    if file is None:
        raise click.UsageError("FILE (or --pending DATA_DIR) is required")
    stopped = root.resolve() == Path("/") and _stop_service()
    try:
        manifest = restore_backup(file, root)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if stopped:
            subprocess.run(["systemctl", "start", SERVICE], check=False)
    for entry in manifest.entries:
        click.echo(f"  {entry.role}: {entry.path}")
    click.echo(f"restored {len(manifest.entries)} files from {file} "
               f"(made {manifest.created} on {manifest.hostname})")
    if not stopped:
        click.echo("start (or restart) the gateway to use them")


def _stop_service() -> bool:
    """Stop the running service, so no database is open while it is replaced."""
    if shutil.which("systemctl") is None:
        return False
    active = subprocess.run(["systemctl", "is-active", "--quiet", SERVICE], check=False)
    if active.returncode != 0:
        return False
    click.echo(f"stopping {SERVICE} while restoring")
    subprocess.run(["systemctl", "stop", SERVICE], check=True)
    return True


@system_command.command("health")
@click.option("--config", "-c", "config_path", default=DEFAULT_CONFIG, show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The gateway's config.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Seconds to wait for the readings (default: 60 + two sensor intervals).")
@click.option("--mark", is_flag=True,
              help="Mark the booted system slot good (or bad, so the next boot is the "
                   "previous system) with RAUC, and keep the report for the dashboard.")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Where --mark keeps the report (default: as `gateway run`).")
@click.option("--rauc-conf", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="RAUC's system.conf (default: /etc/rauc/system.conf).")
def health(config_path: Path, timeout: float | None, mark: bool, data_dir: Path | None,
           rauc_conf: Path | None) -> None:
    """Check that the broker answers, the gateway is online and every polled sensor reports;
    exit 1 and say what failed otherwise."""
    try:
        config = load_config(config_path)
    except ConfigErrors as exc:
        raise click.ClickException("cannot read the config:\n" +
                                   "\n".join(str(e) for e in exc.errors)) from None
    report = check_health(config, timeout or default_timeout(config))
    if mark:
        try:
            marked = mark_slot(report, state_dir(config, data_dir), Rauc(rauc_conf))
        except (UpdateError, subprocess.SubprocessError) as exc:
            raise click.ClickException(f"cannot mark the slot: {exc}") from None
        click.echo(("trial of an update: " if marked.trial else "") +
                   (" ".join(marked.argv) if marked.argv else "slot not marked"))
        if not marked.trial and report.gateway_up and not report.ok:
            # An established system stays: a silent sensor is the user's to look at.
            click.echo("warning: " + "; ".join(report.problems), err=True)
            return
    if not report.ok:
        raise click.ClickException("unhealthy: " + "; ".join(report.problems))
    click.echo(f"healthy: broker answers, gateway online, {len(report.sensors_reporting)} "
               "sensors reporting")


@system_command.command("update")
@click.argument("source", required=False, metavar="FILE|URL")
@click.option("--status", "show_status", is_flag=True,
              help="Say where the last update stands (and why it was rolled back) and exit.")
@click.option("--no-reboot", is_flag=True, help="Install, but do not restart into it now.")
@click.option("--config", "-c", "config_path", default=DEFAULT_CONFIG, show_default=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The gateway's config (for its data directory).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="The gateway's data directory (default: as `gateway run`).")
@click.option("--rauc-conf", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="RAUC's system.conf (default: /etc/rauc/system.conf).")
def update(source: str | None, show_status: bool, no_reboot: bool, config_path: Path,
           data_dir: Path | None, rauc_conf: Path | None) -> None:
    """Install the update bundle FILE (or download it from URL) into the other system slot
    and restart into it on trial: it stays only if its health check passes, otherwise the
    gateway returns to this system by itself. Needs the A/B image (RAUC)."""
    rauc = Rauc(rauc_conf)
    if show_status:
        click.echo(describe(update_status(_data_dir(config_path, data_dir), rauc)))
        return
    if source is None:
        raise click.UsageError("FILE or URL is required (or --status)")
    try:
        rauc.require()
    except UpdateError as exc:
        raise click.ClickException(str(exc)) from None
    directory = _data_dir(config_path, data_dir)
    last = [-1]

    def progress(percent: int, message: str) -> None:
        if not message.startswith("Downloading") or percent != last[0]:
            click.echo(f"{percent:3d}% {message}")
        last[0] = percent

    try:
        pending = install_update(source, directory, rauc, progress)
    except UpdateError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"installed version {pending.to_version} in slot {pending.slot} "
               f"(running: {pending.from_version} in slot {pending.from_slot})")
    if no_reboot:
        click.echo("it starts at the next restart (`systemctl reboot`), on trial")
        return
    click.echo("restarting into it; it is on trial until its health check passes")
    try:
        reboot(reboot_command(directory))
    except (OSError, subprocess.SubprocessError) as exc:
        raise click.ClickException(f"installed, but cannot restart: {exc}; restart the "
                                   "gateway to start the new version") from None


def _data_dir(config_path: Path, data_dir: Path | None) -> Path:
    if data_dir is not None:
        return data_dir
    try:
        return state_dir(load_config(config_path))
    except ConfigErrors as exc:
        raise click.ClickException("cannot read the config (give --data-dir):\n" +
                                   "\n".join(str(e) for e in exc.errors)) from None
