"""Test TLS files: a throw-away CA and a server certificate it signs, made with `openssl`.

Used by the http check's unit tests (tests/unit/adapters/test_http_check.py) and
the lab's HTTPS (tests/lab/web.py). The CA and the leaf carry the extensions
strict verification asks for (Python 3.13's default VERIFY_X509_STRICT): basic
constraints, key usage, subject and authority key identifiers, and the names
in subjectAltName. Keys are P-256 (fast to make), valid for 2 days.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

OPENSSL = "/usr/bin/openssl"


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate (the client's ca_file)
    cert: Path  # the server's certificate
    key: Path  # the server's key


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def make(directory: Path, names: Sequence[str], addresses: Sequence[str] = ()) -> TlsFiles:
    """A CA and a server certificate for DNS `names` and IP `addresses`, in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key = directory / "server.pem", directory / "server.key"
    csr, ext = directory / "server.csr", directory / "server.ext"
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run([OPENSSL, "req", "-x509", *curve, "-keyout", str(ca_key), "-out", str(ca),
          "-days", "2", "-subj", "/CN=anycast-speaker test CA",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign",
          "-addext", "subjectKeyIdentifier=hash"])
    _run([OPENSSL, "req", "-new", *curve, "-keyout", str(key), "-out", str(csr),
          "-subj", f"/CN={names[0] if names else addresses[0]}"])
    alt = ",".join([f"DNS:{n}" for n in names] + [f"IP:{a}" for a in addresses])
    ext.write_text("basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\n"
                   "subjectKeyIdentifier=hash\n"
                   "authorityKeyIdentifier=keyid\n"
                   f"subjectAltName={alt}\n")
    _run([OPENSSL, "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
          "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext)])
    for path in (key, ca_key):
        path.chmod(0o600)
    return TlsFiles(ca=ca, cert=cert, key=key)
