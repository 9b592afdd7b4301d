"""A backup dropped on the boot partition (``gateway-backup*.tar.gz``, as the dashboard
names its downloads) is restored at the next boot, before anything else is applied and
before the gateway starts: a freshly flashed card becomes the old gateway."""

from __future__ import annotations

import logging
from pathlib import Path

from gateway.firstboot.system import Host, write_if_changed
from gateway.system.archive import BackupError
from gateway.system.contents import APPLIANCE_BOOT_FILE, APPLIANCE_STATE
from gateway.system.pending import apply_pending
from gateway.system.restore import restore_backup

log = logging.getLogger("gateway.firstboot")

BACKUP_GLOB = "gateway-backup*.tar.gz"
#: What became of the last backup found on the boot partition, for the user to read.
REPORT_FILE = "gateway-restore.txt"
BOOT_FILE = "gateway.toml"
CREDENTIALS_FILE = "gateway-credentials.txt"


def restore_from_boot(boot: Path, host: Host) -> bool:
    """Restore the newest backup on ``boot`` into ``host``; True when one was restored.
    The file is renamed afterwards (``.restored``, or ``.refused`` with the reason in
    gateway-restore.txt) so that it is applied once, not at every boot."""
    found = sorted(boot.glob(BACKUP_GLOB))
    if not found:
        return False
    backup = found[-1]
    current = boot / BOOT_FILE
    kept = boot / (BOOT_FILE + ".before-restore")
    made_kept = False
    try:
        if current.is_file():
            # The card's own file, as flashed or edited, stays at hand.
            made_kept = write_if_changed(kept, current.read_text(encoding="utf-8", errors="replace"),
                                         mode=None)
        manifest = restore_backup(backup, host.root,
                                  moved={str(APPLIANCE_BOOT_FILE): current})
    except (BackupError, OSError) as exc:
        if made_kept:
            kept.unlink(missing_ok=True)
        log.error("backup %s not restored: %s", backup.name, exc)
        write_if_changed(boot / REPORT_FILE, f"{backup.name} was not restored: {exc}\n"
                         "The gateway starts as a new one. Put a good backup here and restart.\n",
                         mode=None)
        backup.rename(backup.with_name(backup.name + ".refused"))
        return False
    report = [f"{backup.name} restored ({manifest.created}, from {manifest.hostname}):",
              *(f"  {e.role}: {e.path}" for e in manifest.entries)]
    if kept.exists():
        report.append(f"The card's previous {BOOT_FILE} is kept as {kept.name}.")
    write_if_changed(boot / REPORT_FILE, "\n".join(report) + "\n", mode=None)
    # Passwords generated on this card before the restore no longer hold: the restored
    # users keep the passwords the phone and Home Assistant already use.
    (boot / CREDENTIALS_FILE).unlink(missing_ok=True)
    backup.rename(backup.with_name(backup.name + ".restored"))
    log.info("restored %d files from %s", len(manifest.entries), backup.name)
    return True


def restore_uploaded(boot: Path, host: Host) -> bool:
    """Restore a backup uploaded to the dashboard (kept in the gateway's data directory);
    what became of it goes to gateway-restore.txt. True when one was restored."""
    try:
        manifest = apply_pending(host.path(str(APPLIANCE_STATE).lstrip("/")), host.root)
    except BackupError as exc:
        log.error("%s", exc)
        write_if_changed(boot / REPORT_FILE, f"{exc}\n", mode=None)
        return False
    if manifest is None:
        return False
    write_if_changed(boot / REPORT_FILE, f"The backup uploaded to the dashboard was restored "
                     f"({manifest.created}, from {manifest.hostname}).\n", mode=None)
    (boot / CREDENTIALS_FILE).unlink(missing_ok=True)  # see restore_from_boot
    log.info("restored %d files from the backup uploaded to the dashboard", len(manifest.entries))
    return True
