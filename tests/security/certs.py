"""A throwaway certificate authority made with Debian's openssl command, for TLS tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=120)


@dataclass(frozen=True)
class TestPki:
    """Paths of a CA, a server certificate for 127.0.0.1 and localhost, and client certs."""

    __test__ = False  # not a pytest test class despite the name
    dir: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path

    def client(self, cn: str) -> tuple[Path, Path]:
        """(cert, key) of a client certificate with subject CN ``cn``, signed by the CA."""
        cert, key = self.dir / f"client-{cn}.crt", self.dir / f"client-{cn}.key"
        if not cert.exists():
            _sign(self.dir, cn, cert, key, ext=None)
        return cert, key


def _sign(d: Path, cn: str, cert: Path, key: Path, ext: str | None) -> None:
    csr = d / f"{cert.stem}.csr"
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-subj", f"/CN={cn}", "-out", str(csr), cwd=d)
    args = ["x509", "-req", "-in", str(csr), "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-sha256", "-out", str(cert)]
    if ext:
        (d / "ext.cnf").write_text(ext)
        args += ["-extfile", "ext.cnf"]
    _openssl(*args, cwd=d)


def make_pki(d: Path) -> TestPki:
    """Create the CA and the server certificate in directory ``d``."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", "2", "-subj", "/CN=gateway test CA", cwd=d)
    _sign(d, "localhost", d / "server.crt", d / "server.key",
          ext="subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    return TestPki(d, d / "ca.crt", d / "server.crt", d / "server.key")
