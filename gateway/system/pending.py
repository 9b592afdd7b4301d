"""A backup uploaded to the dashboard: checked, kept in the data directory, and restored at
the next boot by first boot (as root, before the gateway starts: the running gateway holds
its databases open and may not write /etc), or by ``gateway system restore --pending``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from gateway.system.archive import BackupError, Manifest
from gateway.system.restore import restore_backup, verify_backup

log = logging.getLogger(__name__)

PENDING = "restore-pending.tar.gz"


def pending_path(data_dir: Path) -> Path:
    return data_dir / PENDING


def stage(upload: Path, data_dir: Path) -> Manifest:
    """Check ``upload`` completely and keep it as the pending restore (replacing an older
    one); a bad upload raises BackupError and is removed."""
    try:
        manifest = verify_backup(upload)
    except BackupError:
        upload.unlink(missing_ok=True)
        raise
    os.chmod(upload, 0o600)
    os.replace(upload, pending_path(data_dir))
    return manifest


def apply_pending(data_dir: Path, root: Path = Path("/")) -> Manifest | None:
    """Restore the pending backup, if any, and remove it; one that fails is kept as
    ``restore-pending.tar.gz.refused`` and the gateway starts as it was."""
    pending = pending_path(data_dir)
    if not pending.exists():
        return None
    try:
        manifest = restore_backup(pending, root)
    except BackupError as exc:
        pending.rename(pending.with_name(PENDING + ".refused"))
        raise BackupError(f"the uploaded backup was not restored: {exc}") from None
    pending.unlink(missing_ok=True)
    return manifest
