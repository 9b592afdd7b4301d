"""Where an update stands, for ``GET /api/system/update`` and ``gateway system update
--status``: from RAUC's status (which slot runs), ``update-pending.json`` (what was
installed, into which slot, on which boot), ``update-progress.json`` (an install running
or failed) and ``update-health.json`` (the trial system's own health check).

States: ``idle`` (no update yet), ``installing``, ``rebooting`` (installed, the new system
starts at the next boot), ``trial`` (the new system runs, its health check has not
finished), ``good``, ``rolled_back`` (the previous system runs again: the new one was
unhealthy, or did not start at all), ``failed`` (the install failed, or the new system
found itself unhealthy and is about to return to the previous one).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.system.update import (
    PROGRESS_FILE,
    REPORT_FILE,
    Pending,
    current_boot_id,
    read_json,
    read_pending,
    update_running,
)
from gateway.system.update_rauc import Rauc, RaucMissing, SystemStatus, UpdateError

DID_NOT_START = "the new system did not start"


def update_status(data_dir: Path, rauc: Rauc,
                  boot_id: Callable[[], str] = current_boot_id) -> dict[str, Any]:
    """The status as the API returns it (docs/contracts.md, "System updates")."""
    answer: dict[str, Any] = {"booted_slot": None, "booted_version": __version__,
                              "other_slot_version": None, "other_slot_state": None,
                              "state": "idle", "progress": None, "message": None,
                              "available": True}
    try:
        system: SystemStatus | None = rauc.status()
    except RaucMissing as exc:
        answer.update(available=False, message=str(exc))
        system = None
    except UpdateError as exc:
        answer["message"] = str(exc)
        system = None
    if system is not None:
        other = system.other()
        answer.update(booted_slot=system.booted,
                      other_slot_version=other.version if other else None,
                      other_slot_state=other.boot_status if other else None)
    answer.update(_state(data_dir, system, boot_id))
    return answer


def _state(data_dir: Path, system: SystemStatus | None,
           boot_id: Callable[[], str]) -> dict[str, Any]:
    progress = read_json(data_dir / PROGRESS_FILE)
    pending = read_pending(data_dir)
    if update_running(data_dir):
        progress = progress or {}
        return {"state": "installing", "progress": progress.get("progress"),
                "message": progress.get("message")}
    if progress is not None and (pending is None or float(progress.get("at") or 0) > pending.at):
        message = progress.get("message")
        if progress.get("state") == "installing":  # its installer is gone: power cut, crash
            message = (f"the update was interrupted ({message}); the running system is "
                       "unchanged: install the bundle again")
        return {"state": "failed", "message": message}
    if pending is None or system is None:
        return {}
    kept = read_json(data_dir / REPORT_FILE)
    if system.booted == pending.slot:
        return _on_new_slot(pending, kept)
    if pending.boot_id == boot_id():
        return {"state": "rebooting",
                "message": f"version {pending.to_version} is installed in slot {pending.slot}; "
                           "it starts when the gateway restarts"}
    return {"state": "rolled_back", "message": rollback_reason(pending, kept)}


def _trial_report(pending: Pending, kept: dict[str, Any] | None) -> dict[str, Any] | None:
    """The health report of the trial of ``pending``, if its system wrote one."""
    if kept is None or kept.get("slot") != pending.slot:
        return None
    checked = kept.get("checked")
    if not isinstance(checked, (int, float)) or checked < pending.at:
        return None
    return kept


def _on_new_slot(pending: Pending, kept: dict[str, Any] | None) -> dict[str, Any]:
    report = _trial_report(pending, kept)
    if report is None:
        return {"state": "trial",
                "message": f"version {pending.to_version} is on trial: its health check "
                           "decides whether it stays"}
    if report.get("ok") is True:
        return {"state": "good", "message": f"updated from {pending.from_version} to "
                                            f"{pending.to_version}"}
    return {"state": "failed",
            "message": f"version {pending.to_version} is unhealthy ({_problems(report)}); "
                       f"the gateway returns to version {pending.from_version}"}


def rollback_reason(pending: Pending, kept: dict[str, Any] | None) -> str:
    """Why the previous system runs again, for the user."""
    report = _trial_report(pending, kept)
    why = _problems(report) if report is not None and report.get("ok") is not True \
        else DID_NOT_START
    return (f"the update to {pending.to_version} was rolled back to {pending.from_version}: "
            f"{why}")


def _problems(report: dict[str, Any]) -> str:
    problems = report.get("problems")
    if isinstance(problems, list) and problems:
        return "; ".join(str(p) for p in problems)
    return "its health check failed"


def describe(status: dict[str, Any]) -> str:
    """The status as lines for ``gateway system update --status``."""
    lines = [f"state: {status['state']}"]
    if status.get("progress") is not None:
        lines[0] += f" ({status['progress']} %)"
    if status.get("message"):
        lines.append(str(status["message"]))
    if status.get("booted_slot"):
        lines.append(f"running: slot {status['booted_slot']}, version {status['booted_version']}")
        lines.append(f"other slot: version {status.get('other_slot_version') or 'unknown'}"
                     f" ({status.get('other_slot_state') or 'no state'})")
    return "\n".join(lines)
