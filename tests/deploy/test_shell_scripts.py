"""The deploy shell scripts pass shellcheck (warnings and errors; the image scripts run as
root and edit disk images, where an unquoted variable does real damage)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted([REPO / "deploy/install.sh", *(REPO / "deploy/image").glob("*.sh")])


def test_shellcheck_is_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck missing: deploy/dev-deps.sh installs it"
    result = subprocess.run(
        [shellcheck, "--severity=warning", "--external-sources", "--source-path=SCRIPTDIR",
         *map(str, SCRIPTS)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_script_is_strict() -> None:
    """Each script stops at the first failing command."""
    for script in SCRIPTS:
        if script.name == "common.sh":  # sourced: inherits the caller's options
            continue
        assert "set -euo pipefail" in script.read_text(), script.name
