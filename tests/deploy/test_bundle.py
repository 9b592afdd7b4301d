"""The update bundle `make image` writes beside the image (deploy/image/bundle.sh): a RAUC
bundle of the root filesystem that RAUC accepts only with the signing certificate, whose
.sha256 catches a damaged download, and whose manifest names the system and version."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.rauc_system import make_bundle, signing_key, small_rootfs

REPO = Path(__file__).resolve().parents[2]
VERSION = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A bundle of a small root directory; returns (bundle, signing certificate)."""
    tmp = tmp_path_factory.mktemp("bundle")
    out = make_bundle(small_rootfs(tmp / "rootfs"), tmp / "out/sensor-gateway-test.raucb",
                      tmp / "cache")
    cert = tmp / "cache/update-keys/cert.pem"
    assert cert.is_file(), "bundle.sh made no development key"
    return out, cert


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
    other = signing_key(tmp_path)
    refused = rauc_info(path, Path(other["UPDATE_CERT"]))
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
