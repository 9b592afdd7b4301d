"""Backups from the dashboard, for administrators only (a backup holds every password hash
and the TLS private keys):

    GET  /api/system/backup     the backup file, made while the gateway runs
    POST /api/system/restore    the body is a backup file: checked completely and kept;
                                the next boot restores it before the gateway starts

An administrator is a user the ACL lets read and write every topic (``topic readwrite #``),
every user when there is no ACL (they can do as much over MQTT already), or loopback.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from broker.auth.acl import Acl, AclFileError
from gateway.config import Config
from gateway.dashboard.auth import password_file_of
from gateway.system.archive import BackupError
from gateway.system.backup import make_backup
from gateway.system.contents import APPLIANCE_BOOT_FILE, gateway_parts
from gateway.system.pending import stage

if TYPE_CHECKING:
    from gateway.dashboard.app import Dashboard

log = logging.getLogger(__name__)

BACKUP_PATH = "/api/system/backup"
RESTORE_PATH = "/api/system/restore"
#: Far above any real backup (the history is capped), far below a full SD card.
MAX_UPLOAD = 1 << 30
LOOPBACK_USER = "(local)"  # the name the dashboard gives requests from this machine


@dataclass(frozen=True)
class BackupSource:
    """What a backup of this gateway is made of."""

    config: Config
    data_dir: Path
    boot_file: Path | None = APPLIANCE_BOOT_FILE


_SOURCES: weakref.WeakKeyDictionary[Dashboard, BackupSource] = weakref.WeakKeyDictionary()


def enable_backups(dashboard: Dashboard, config: Config, data_dir: Path) -> None:
    """Let ``dashboard`` back up and restore the gateway described by ``config``."""
    _SOURCES[dashboard] = BackupSource(config, data_dir)


def register(app: web.Application, dashboard: Dashboard,
             user_of: Callable[[web.Request], str | None]) -> None:
    """Add the backup routes to the dashboard's ``app``; ``user_of`` names a request's user."""
    routes = _Routes(dashboard, user_of)
    app.router.add_get(BACKUP_PATH, routes.download)
    app.router.add_post(RESTORE_PATH, routes.upload)


def is_admin(user: str | None, broker: Mapping[str, Any]) -> bool:
    """May ``user`` take or restore backups? (See the module docstring.)"""
    if user is None:
        return False
    if user == LOOPBACK_USER:
        return True
    acl_file = _acl_file_of(broker)
    if acl_file is None:
        return True
    try:
        acl = Acl.load(acl_file)
    except (OSError, AclFileError):
        return False  # the broker keeps its old rules; nobody gets keys meanwhile
    return acl.can_subscribe(user, "", "#") and acl.can_write(user, "", "#")


def require_admin(user: str | None, broker: Mapping[str, Any], what: str) -> None:
    """Answer 403 (JSON, saying why) unless ``user`` is an administrator."""
    if not is_admin(user, broker):
        raise web.HTTPForbidden(
            text=f'{{"error": "{what} are for administrators (ACL: topic readwrite #)"}}',
            content_type="application/json")


def _acl_file_of(broker: Mapping[str, Any]) -> str | None:
    """The ACL that goes with the dashboard's users (their password file's listener)."""
    if broker.get("acl_file"):
        return str(broker["acl_file"])
    users = password_file_of(broker)
    for listener in broker.get("listeners") or []:
        if isinstance(listener, Mapping) and listener.get("password_file") == users:
            return str(listener["acl_file"]) if listener.get("acl_file") else None
    return None


class _Routes:
    def __init__(self, dashboard: Dashboard, user_of: Callable[[web.Request], str | None]) -> None:
        self.dashboard = dashboard
        self.user_of = user_of

    def _source(self, request: web.Request) -> BackupSource:
        source = _SOURCES.get(self.dashboard)
        if source is None:
            raise web.HTTPNotFound(text="backups are not available here")
        require_admin(self.user_of(request), source.config.broker, "backups")
        return source

    async def download(self, request: web.Request) -> web.StreamResponse:
        source = self._source(request)
        await self.dashboard.history.flush()  # the samples of the last minutes too
        parts = gateway_parts(source.config, source.data_dir, source.boot_file)
        name = f"gateway-backup-{socket.gethostname()}-{time.strftime('%Y-%m-%d-%H%M')}.tar.gz"
        loop = asyncio.get_running_loop()
        with tempfile.TemporaryDirectory(dir=source.data_dir, prefix=".download-") as tmp:
            out = Path(tmp) / name
            try:
                await loop.run_in_executor(None, make_backup, parts, out)
            except BackupError as exc:
                log.error("dashboard: backup failed: %s", exc)
                return web.json_response({"error": str(exc)}, status=500)
            # Open, then let the directory go: the response reads from the open file.
            body = out.open("rb")
        log.info("dashboard: %s downloaded a backup", self.user_of(request))
        return web.Response(body=body, content_type="application/gzip", headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store"})

    async def upload(self, request: web.Request) -> web.StreamResponse:
        source = self._source(request)
        fd, name = tempfile.mkstemp(dir=source.data_dir, prefix=".upload-")
        upload = Path(name)
        size = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                async for chunk in request.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > MAX_UPLOAD:
                        raise web.HTTPRequestEntityTooLarge(max_size=MAX_UPLOAD, actual_size=size)
                    fh.write(chunk)
            manifest = await asyncio.get_running_loop().run_in_executor(
                None, stage, upload, source.data_dir)
        except BackupError as exc:
            return web.json_response({"error": str(exc).replace(str(upload), "the upload")},
                                     status=400)
        except OSError as exc:
            return web.json_response({"error": f"cannot keep the upload: {exc.strerror}"},
                                     status=507)
        finally:
            upload.unlink(missing_ok=True)
        log.warning("dashboard: %s uploaded a backup of %s (%s); restored at the next boot",
                    self.user_of(request), manifest.hostname, manifest.created)
        return web.json_response({"restoring": True, "hostname": manifest.hostname,
                                  "created": manifest.created, "files": len(manifest.entries)},
                                 status=202)
