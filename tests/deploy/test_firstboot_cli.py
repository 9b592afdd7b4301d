"""``python -m gateway.firstboot``: --check on a PC, and a run against a scratch root."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from gateway.firstboot.__main__ import main
from gateway.firstboot.run import ERROR_FILE, ETC_CONFIG

REPO = Path(__file__).resolve().parents[2]


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.firstboot", "--check", str(path)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def test_check_prints_the_gateway_config(tmp_path: Path) -> None:
    result = check(REPO / "deploy/image/gateway.toml")
    assert result.returncode == 0, result.stderr
    config = tomllib.loads(result.stdout)
    assert "system" not in config
    assert config["broker"]["listeners"][0]["password_file"] == "/etc/sensor-gateway/passwd"


def test_check_reports_errors_with_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[system]\nhostname = "no spaces allowed"\n')
    result = check(path)
    assert result.returncode == 1
    assert result.stderr.startswith("gateway.toml:2: system.hostname: ")
    assert result.stdout == ""


def test_main_applies_to_a_scratch_root_and_exits_0_even_when_rejecting(tmp_path: Path) -> None:
    boot, root = tmp_path / "boot", tmp_path / "root"
    boot.mkdir()
    root.mkdir()
    (boot / "gateway.toml").write_text('[system]\nhostname = "ok"\n')
    assert main(["--boot", str(boot), "--root", str(root)]) == 0
    assert (root / ETC_CONFIG).exists()

    (boot / "gateway.toml").write_text("[system\n")
    assert main(["--boot", str(boot), "--root", str(root)]) == 0
    assert (boot / ERROR_FILE).exists()
