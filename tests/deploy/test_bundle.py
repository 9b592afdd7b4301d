"""The update bundle `make image` writes beside the image (deploy/image/bundle.sh): a RAUC
bundle of the root filesystem that RAUC accepts only with the signing certificate, whose
.sha256 catches a damaged download, and whose manifest names the system and version."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VERSION = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A bundle of a small root directory; returns (bundle, signing certificate)."""
    assert shutil.which("rauc"), "rauc missing: deploy/dev-deps.sh installs it"
    tmp = tmp_path_factory.mktemp("bundle")
    rootfs = tmp / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc/os-release").write_text('NAME="sensor-gateway test"\n')
    (rootfs / "etc/noise").write_bytes(os.urandom(1 << 16))  # squashfs wants > 4 KiB
    out = tmp / "out/sensor-gateway-test.raucb"
    out.parent.mkdir()
    result = subprocess.run(["bash", str(REPO / "deploy/image/bundle.sh"), str(rootfs), str(out)],
                            env=dict(os.environ, CACHE_DIR=str(tmp / "cache")),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "made a development update key" in result.stderr
    return out, tmp / "cache/update-keys/cert.pem"


def rauc_info(bundle: Path, keyring: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rauc", "info", f"--keyring={keyring}", str(bundle)],
                          capture_output=True, text=True, timeout=120)


def test_signed_bundle_names_the_system_and_version(bundle: tuple[Path, Path]) -> None:
    path, cert = bundle
    info = rauc_info(path, cert)
    assert info.returncode == 0, info.stderr
    assert "Compatible: \t'sensor-gateway-rpi-arm64'" in info.stdout
    assert VERSION is not None and f"Version:    \t'{VERSION.group(1)}'" in info.stdout
    assert "Bundle Format: \tverity" in info.stdout
    check = subprocess.run(["sha256sum", "-c", path.name + ".sha256"], cwd=path.parent,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_another_key_or_a_damaged_signature_is_refused(bundle: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    path, cert = bundle
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=other",
                    "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem")],
                   check=True, capture_output=True, timeout=60)
    refused = rauc_info(path, tmp_path / "c.pem")
    assert refused.returncode != 0 and "signature verification failed" in refused.stderr
    damaged = tmp_path / path.name
    data = bytearray(path.read_bytes())
    data[-300] ^= 1  # inside the signature at the end of the bundle
    damaged.write_bytes(data)
    assert rauc_info(damaged, cert).returncode != 0


def test_sha256_catches_a_damaged_download(bundle: tuple[Path, Path], tmp_path: Path) -> None:
    path, _ = bundle
    data = bytearray(path.read_bytes())
    data[4096] ^= 1  # in the image itself (RAUC finds it only while installing, by verity)
    (tmp_path / path.name).write_bytes(data)
    shutil.copy(path.with_name(path.name + ".sha256"), tmp_path)
    check = subprocess.run(["sha256sum", "-c", path.name + ".sha256"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode != 0
