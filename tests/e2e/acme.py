"""An ACME CA for the tests: Debian's pebble on this machine's end of a host's veth, with
pebble-challtestsrv as the DNS it resolves names with (every name: the host), so that it
validates HTTP-01 challenges against the host's own nginx, as Let's Encrypt would."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .host import Host

ACME_PORT, MANAGEMENT_PORT, DNS_PORT, CHALLTESTSRV_PORT = 14000, 15000, 8053, 8055


@dataclass
class Acme:
    directory: str   # the ACME_SERVER setting
    ca: Path         # what signs pebble's own HTTPS (the host trusts it, as a private CA's)
    root: Path       # what signs the certificates pebble issues: clients verify the site with it


def make_ca(workdir: Path, name: str) -> tuple[Path, Path]:
    key, cert = workdir / f"{name}.key", workdir / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", f"/CN={name}", "-days", "2", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return key, cert


def issue(workdir: Path, ca: tuple[Path, Path], name: str, san: str) -> tuple[Path, Path]:
    """A certificate for `san` (e.g. IP:10.0.0.1, DNS:app.example.org) signed by `ca`."""
    key, csr, cert = workdir / f"{name}.key", workdir / f"{name}.csr", workdir / f"{name}.crt"
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr)],
                   check=True, capture_output=True)
    extensions = workdir / f"{name}.ext"
    extensions.write_text(f"subjectAltName={san}\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
                    "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(cert)],
                   check=True, capture_output=True)
    return key, cert


def wait_for_port(address: str, port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {address}:{port}")


@contextmanager
def pebble(host: Host, workdir: Path) -> Iterator[Acme]:
    """pebble for `host`, whose system trusts pebble's own CA (as a private ACME CA's)."""
    workdir.mkdir(parents=True, exist_ok=True)
    here = host.link.local_address
    ca = make_ca(workdir, "pebble-https-ca")
    key, cert = issue(workdir, ca, "pebble", f"IP:{here}")
    config = workdir / "pebble.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": f"{here}:{ACME_PORT}", "managementListenAddress": f"{here}:{MANAGEMENT_PORT}",
        "certificate": str(cert), "privateKey": str(key), "httpPort": 80, "tlsPort": 443,
        "ocspResponderURL": "", "externalAccountBindingRequired": False}}))
    dns = subprocess.Popen(["pebble-challtestsrv", "-defaultIPv4", host.address, "-defaultIPv6", "",
                            "-dns01", f"{here}:{DNS_PORT}", "-http01", "", "-https01", "", "-tlsalpn01", "",
                            "-management", f"{here}:{CHALLTESTSRV_PORT}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # No random sleeps or nonce rejections: the tests measure flaskapp, not pebble's chaos.
    environment = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    ca_server = subprocess.Popen(["pebble", "-config", str(config), "-dnsserver", f"{here}:{DNS_PORT}"],
                                 env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(here, ACME_PORT)
        wait_for_port(here, MANAGEMENT_PORT)
        context = ssl.create_default_context(cafile=str(ca[1]))
        root = workdir / "pebble-root.pem"
        with urllib.request.urlopen(f"https://{here}:{MANAGEMENT_PORT}/roots/0", context=context) as answer:
            root.write_bytes(answer.read())
        host.file("/usr/local/share/ca-certificates/test-acme-ca.crt").write(ca[1].read_text())
        host.run("update-ca-certificates")
        yield Acme(f"https://{here}:{ACME_PORT}/dir", ca[1], root)
    finally:
        for process in (ca_server, dns):
            process.terminate()
            process.wait(timeout=10)
