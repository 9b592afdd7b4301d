"""The systemd units install.sh generates pass `systemd-analyze verify`; the avahi service
file is valid XML advertising the broker as _mqtt._tcp."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = ("sensor-gateway.service", "sensor-gateway-firstboot.service")


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    """Units rendered by install.sh into a scratch root, with a stand-in venv so that
    systemd-analyze finds the programs they start."""
    prefix = tmp_path / "opt"
    (prefix / "venv/bin").mkdir(parents=True)
    for name in ("gateway", "python"):
        exe = prefix / "venv/bin" / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    config = tmp_path / "gateway.toml"
    config.write_text("[gateway]\n")
    root = tmp_path / "root"
    subprocess.run(
        ["bash", str(REPO / "deploy/install.sh"), "--destdir", str(root), "--no-venv",
         "--firstboot", "--prefix", str(prefix), "--config", str(config)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    return root / "etc/systemd/system"


def test_units_pass_systemd_analyze_verify(rendered: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze missing: deploy/dev-deps.sh installs Debian's systemd"
    paths = [str(rendered / unit) for unit in UNITS]
    result = subprocess.run([analyze, "verify", *paths], capture_output=True, text=True, timeout=120)
    # verify also prints warnings about units of the host it loads as dependencies; only
    # lines about ours matter, and the exit status.
    ours = [line for line in result.stderr.splitlines() if "sensor-gateway" in line]
    assert result.returncode == 0 and not ours, result.stderr


def test_units_start_what_the_issue_asks(rendered: Path) -> None:
    service = (rendered / "sensor-gateway.service").read_text()
    assert "bin/gateway run --config /etc/sensor-gateway/gateway.toml" in service
    assert "Restart=on-failure" in service
    assert not re.search(r"@[A-Z]+@", service)  # every placeholder replaced
    assert "chgrp -R sensor-gateway /etc/sensor-gateway" in service
    firstboot = (rendered / "sensor-gateway-firstboot.service").read_text()
    assert "-m gateway.firstboot --boot /boot/firmware" in firstboot
    assert "Before=network-pre.target" in firstboot


def test_a_broken_unit_is_caught(rendered: Path) -> None:
    """The verify check above can fail: a unit with an unknown directive does."""
    broken = rendered / "sensor-gateway.service"
    broken.write_text(broken.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    result = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True,
                            text=True, timeout=120)
    assert "sometimes" in result.stderr


def test_avahi_service_file_advertises_mqtt() -> None:
    text = (REPO / "deploy/avahi/sensor-gateway.service").read_text()
    assert '<!DOCTYPE service-group SYSTEM "avahi-service.dtd">' in text
    root = ET.fromstring(text)
    assert root.tag == "service-group"
    name = root.find("name")
    assert name is not None and name.get("replace-wildcards") == "yes" and "%h" in (name.text or "")
    services = root.findall("service")
    assert len(services) == 1
    assert services[0].findtext("type") == "_mqtt._tcp"
    assert services[0].findtext("port") == "1883"
