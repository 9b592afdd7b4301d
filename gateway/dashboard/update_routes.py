"""System updates from the dashboard, for administrators only (as backups: see
backup_routes.is_admin); cross-site posts are refused by the dashboard's same-origin check.

    GET  /api/system/update     where the update stands (update_status.py's JSON)
    POST /api/system/update     multipart field ``bundle`` (the .raucb file), or JSON
                                ``{"url": ...}``: 202, then installed in the background
                                and the gateway restarts into it on trial

An upload is streamed into the data directory and refused once it would leave less than
update_download.RESERVE free there; it is never held in memory.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import tempfile
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from gateway.dashboard.backup_routes import require_admin
from gateway.system.update import (
    REBOOT,
    current_boot_id,
    install_update,
    reboot_command,
    update_running,
)
from gateway.system.update_download import CHUNK, is_url, no_room, room_for
from gateway.system.update_rauc import Rauc, UpdateError
from gateway.system.update_status import update_status

if TYPE_CHECKING:
    from gateway.dashboard.app import Dashboard

log = logging.getLogger(__name__)

UPDATE_PATH = "/api/system/update"
FIELD = "bundle"


@dataclass
class UpdateSource:
    """What the dashboard updates: the gateway with these broker settings (for who is an
    administrator) and this data directory, through ``rauc``; ``reboot`` restarts it;
    ``boot_id`` tells one boot from the next."""

    broker: Mapping[str, Any]
    data_dir: Path
    rauc: Rauc = field(default_factory=Rauc)
    reboot: list[str] = field(default_factory=lambda: list(REBOOT))
    boot_id: Callable[[], str] = current_boot_id
    task: asyncio.Task[None] | None = None
    receiving: bool = False  # an upload is arriving: a second one is refused meanwhile


_SOURCES: weakref.WeakKeyDictionary[Dashboard, UpdateSource] = weakref.WeakKeyDictionary()


def enable_updates(dashboard: Dashboard, broker: Mapping[str, Any], data_dir: Path,
                   rauc: Rauc | None = None, reboot: list[str] | None = None,
                   boot_id: Callable[[], str] = current_boot_id) -> UpdateSource:
    """Let ``dashboard`` update the gateway (see UpdateSource)."""
    source = UpdateSource(broker, data_dir, rauc or Rauc(), reboot or reboot_command(data_dir),
                          boot_id)
    _SOURCES[dashboard] = source
    return source


def register(app: web.Application, dashboard: Dashboard,
             user_of: Callable[[web.Request], str | None]) -> None:
    """Add the update routes to the dashboard's ``app``."""
    routes = _Routes(dashboard, user_of)
    app.router.add_get(UPDATE_PATH, routes.status)
    app.router.add_post(UPDATE_PATH, routes.start)


def _error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


class _Routes:
    def __init__(self, dashboard: Dashboard, user_of: Callable[[web.Request], str | None]) -> None:
        self.dashboard = dashboard
        self.user_of = user_of

    def _source(self, request: web.Request) -> UpdateSource:
        source = _SOURCES.get(self.dashboard)
        if source is None:
            raise web.HTTPNotFound(text="updates are not available here")
        require_admin(self.user_of(request), source.broker, "updates")
        return source

    async def status(self, request: web.Request) -> web.StreamResponse:
        source = self._source(request)
        answer = await asyncio.get_running_loop().run_in_executor(
            None, update_status, source.data_dir, source.rauc, source.boot_id)
        return web.json_response(answer, headers={"Cache-Control": "no-store"})

    async def start(self, request: web.Request) -> web.StreamResponse:
        source = self._source(request)
        try:
            source.rauc.require()
        except UpdateError as exc:
            return _error(str(exc), 501)
        if (source.receiving or (source.task is not None and not source.task.done())
                or update_running(source.data_dir)):
            return _error("an update is already running", 409)
        source.receiving = True
        try:
            if request.content_type == "multipart/form-data":
                bundle, name = await self._receive(request, source.data_dir)
                remove = True
            else:
                url = await self._url(request)
                bundle, name, remove = url, url, False
        except UpdateError as exc:
            return _error(str(exc), 507)
        finally:
            source.receiving = False
        log.warning("dashboard: %s starts a system update from %s", self.user_of(request), name)
        source.task = asyncio.create_task(self._install(source, bundle, name, remove),
                                          name="system-update")
        return web.json_response({"state": "installing"}, status=202)

    async def _url(self, request: web.Request) -> str:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest(
                text='{"error": "send the bundle as multipart field \\"bundle\\", or JSON '
                     '{\\"url\\": ...}"}', content_type="application/json") from None
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not is_url(url):
            raise web.HTTPBadRequest(text='{"error": "url must be an http:// or https:// address"}',
                                     content_type="application/json")
        return url

    async def _receive(self, request: web.Request, data_dir: Path) -> tuple[Path, str]:
        """Stream the multipart field into a file in ``data_dir``, within its free space;
        returns the file and how to name it to the user."""
        limit = room_for(data_dir)
        if request.content_length is not None and request.content_length > limit + CHUNK:
            raise no_room(data_dir, request.content_length)
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                raise web.HTTPBadRequest(text=f'{{"error": "no \\"{FIELD}\\" field"}}',
                                         content_type="application/json")
            if isinstance(part, BodyPartReader) and part.name == FIELD:
                break
        fd, name = tempfile.mkstemp(dir=data_dir, prefix=".upload-", suffix=".raucb")
        path = Path(name)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := await part.read_chunk(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise no_room(data_dir, None)
                    out.write(chunk)
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise no_room(data_dir, None) if exc.errno == errno.ENOSPC else UpdateError(
                f"cannot keep the upload: {exc.strerror}") from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, f"the upload {part.filename or ''}".rstrip()

    async def _install(self, source: UpdateSource, bundle: str | Path, name: str,
                       remove: bool) -> None:
        loop = asyncio.get_running_loop()
        try:
            pending = await loop.run_in_executor(
                None, lambda: install_update(bundle, source.data_dir, source.rauc,
                                             boot_id=source.boot_id, remove_source=remove,
                                             name=name))
        except UpdateError as exc:  # kept in update-progress.json for GET to show
            log.error("dashboard: system update failed: %s", exc)
            return
        except Exception:
            log.exception("dashboard: system update failed")
            return
        finally:
            if remove:  # install_update removes it, unless it refused to start
                Path(bundle).unlink(missing_ok=True)
        log.warning("dashboard: version %s installed in slot %s; restarting into it",
                    pending.to_version, pending.slot)
        proc = await asyncio.create_subprocess_exec(*source.reboot)
        if await proc.wait() != 0:
            log.error("dashboard: %s failed: restart the gateway to start the update",
                      " ".join(source.reboot))
