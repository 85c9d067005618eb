"""HTTPS: a certificate from an ACME CA (pebble, in the test network, validating through the
running site as Let's Encrypt does) or the admin's own, applied from /etc/flaskapp/site.conf
without an edit of the nginx conffile; renewed and upgraded with no failed request."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .acme import Acme, issue, make_ca, pebble
from .conftest import hosts_with_nginx
from .host import Host, eventually, said
from .load import during
from .test_firewall import drop_with_nftables

host = hosts_with_nginx()  # servers with nginx and python3 already (tests/e2e/conftest.py)

NAME = "app.flaskapp.test"


@pytest.fixture
def acme(host: Host, tmp_path: Path) -> Iterator[Acme]:
    with pebble(host, tmp_path / "pebble") as ca:
        yield ca


def curl(host: Host, url: str, ca: Path, *options: str) -> subprocess.CompletedProcess:
    """curl from this machine, resolving NAME to the host and trusting `ca`."""
    return subprocess.run(["curl", "--silent", "--show-error", "--max-time", "10", "--resolve",
                           f"{NAME}:443:{host.address}", "--resolve", f"{NAME}:80:{host.address}",
                           "--cacert", str(ca), *options, url], capture_output=True, text=True)


def settings(host: Host, text: str) -> subprocess.CompletedProcess:
    host.file("/etc/flaskapp/site.conf").write(text)
    return host.run("flaskapp-site", "apply", check=False)


def own(certificate: Path, key: Path) -> str:
    return f"SERVER_NAMES={NAME}\nTLS=own\nTLS_CERTIFICATE={certificate}\nTLS_KEY={key}\n"


def serial(host: Host) -> str:
    return host.run("openssl", "x509", "-noout", "-serial", "-in",
                    "/etc/letsencrypt/live/flaskapp/cert.pem").stdout.strip()


def test_a_certificate_from_an_acme_ca_serves_https_and_renews_with_no_failed_request(
    host: Host, deb: Path, acme: Acme
) -> None:
    drop_with_nftables(host)
    host.run("apt-get", "install", "--yes", "certbot")
    host.apt_install(deb)
    acme_settings = f"SERVER_NAMES={NAME}\nTLS=acme\nACME_SERVER={acme.directory}\nHSTS=yes\n"
    applied = settings(host, acme_settings)
    assert "no certificate yet" in said(applied)

    obtained = host.run("flaskapp-site", "certificate", check=False)
    assert obtained.returncode == 0, said(obtained)
    assert "HTTPS on port 443" in obtained.stdout

    page = curl(host, f"https://{NAME}/", acme.root, "--include", "--http2")
    assert page.returncode == 0, page.stderr
    assert page.stdout.startswith("HTTP/2 200") and page.stdout.endswith("Hello World!")
    assert "strict-transport-security: max-age=63072000" in page.stdout.lower()
    # (Eventually: nginx's old workers finish what they accepted before the reload.)
    eventually(lambda: curl(host, f"http://{NAME}/some/path?x=1", acme.root, "--write-out",
                            "%{http_code} %{redirect_url}").stdout.endswith(f"301 https://{NAME}/some/path?x=1"),
               timeout=10, what="HTTP redirected to HTTPS")
    health = curl(host, f"http://{NAME}/healthz", acme.root, "--write-out", "\n%{http_code}")
    assert health.stdout.endswith("\n200")  # load balancers check over HTTP: never redirected
    assert "nftables: accepted port 443/tcp" in obtained.stdout
    assert "flaskapp-https" in host.run("nft", "list", "ruleset").stdout

    # certbot's renewal (what its timer runs), forced, under load over HTTPS. Its deploy hook
    # reloads nginx, whose old workers close idle keep-alive connections: a client that
    # reuses one just then must retry (browsers do). wrk does not, so each request of this
    # load has a connection of its own, and none may fail.
    before = serial(host)
    # (certbot sleeps up to 8 minutes at random before a renewal with no terminal, to spread
    # the CA's load; its timer does that, the test does not.)
    renew = lambda: host.run("certbot", "renew", "--force-renewal", "--no-random-sleep-on-renew")  # noqa: E731
    result = during(f"https://{host.address}/", renew, seconds=12, headers=("Connection: close",))
    assert result.requests > 200 and result.failed == 0, result
    assert serial(host) != before
    served = curl(host, f"https://{NAME}/", acme.root, "--write-out", "\n%{ssl_verify_result}")
    assert served.stdout.endswith("Hello World!\n0")

    # An unreachable CA: a clear error, and the site keeps its certificate and serves.
    settings(host, acme_settings.replace(acme.directory, f"https://{host.link.local_address}:14999/dir"))
    failed = host.run("flaskapp-site", "certificate", check=False)
    assert failed.returncode == 1
    assert "certbot could not obtain a certificate" in failed.stderr
    assert "The site keeps serving as it was" in failed.stderr
    assert curl(host, f"https://{NAME}/", acme.root).stdout == "Hello World!"

    # TLS off: plain HTTP again, port 443 closed; purge deletes the certificate it obtained.
    assert settings(host, f"SERVER_NAMES={NAME}\nTLS=off\n").returncode == 0
    eventually(lambda: curl(host, f"http://{NAME}/", acme.root).stdout == "Hello World!", timeout=10,
               what="plain HTTP served")
    assert "flaskapp-https" not in host.run("nft", "list", "ruleset").stdout
    eventually(lambda: not any(address.endswith(":443") for address in host.tcp_listeners()), timeout=10,
               what="port 443 closed")
    host.run("apt-get", "purge", "--yes", "flaskapp")
    assert not host.file("/etc/letsencrypt/live/flaskapp").exists


def test_an_own_certificate_is_served_and_a_mismatched_key_refused(
    host: Host, deb: Path, tmp_path: Path
) -> None:
    host.apt_install(deb)
    ca = make_ca(tmp_path, "corporate-ca")
    key, cert = issue(tmp_path, ca, NAME, f"DNS:{NAME}")
    other_key, _ = issue(tmp_path, ca, "other", "DNS:other.flaskapp.test")
    host.run("mkdir", "-p", "/etc/ssl/flaskapp")
    for path in (key, cert, other_key):
        host.file(f"/etc/ssl/flaskapp/{path.name}").write(path.read_text())

    mismatched = settings(host, own(f"/etc/ssl/flaskapp/{cert.name}", f"/etc/ssl/flaskapp/{other_key.name}"))
    assert mismatched.returncode == 1
    assert "does not belong to the certificate" in mismatched.stderr
    assert "changed nothing" in mismatched.stderr
    assert host.get("/").text == "Hello World!"  # as before: HTTP

    applied = settings(host, own(f"/etc/ssl/flaskapp/{cert.name}", f"/etc/ssl/flaskapp/{key.name}"))
    assert applied.returncode == 0, said(applied)
    page = curl(host, f"https://{NAME}/", ca[1], "--write-out", " %{http_version}")
    assert page.stdout == "Hello World! 2"


def test_an_upgrade_with_tls_on_keeps_serving_https(
    host: Host, deb: Path, newer_deb: Path, tmp_path: Path
) -> None:
    host.apt_install(deb)
    ca = make_ca(tmp_path, "corporate-ca")
    key, cert = issue(tmp_path, ca, NAME, f"DNS:{NAME}")
    for path in (key, cert):
        host.file(f"/etc/ssl/{path.name}").write(path.read_text())
    assert settings(host, own(f"/etc/ssl/{cert.name}", f"/etc/ssl/{key.name}")).returncode == 0
    path = host.copy_in(newer_deb)
    upgrade: dict[str, str] = {}

    def upgrade_now() -> None:
        upgrade["output"] = host.run("apt-get", "install", "--yes", path).stdout

    result = during(f"https://{host.address}/", upgrade_now, seconds=14)
    assert result.requests > 500 and result.failed == 0, result
    assert "Configuration file" not in upgrade["output"]  # no conffile prompt
    version = json.loads(curl(host, f"https://{NAME}/healthz", ca[1]).stdout)["version"]
    assert version == newer_deb.name.split("_")[1]


# What testssl.sh rates HIGH or CRITICAL only because the CA is pebble, not Let's Encrypt.
FROM_THE_TEST_CA = {
    "cert_revocation": "pebble's certificates name no CRL (Let's Encrypt's name one since 2025)",
}


def test_testssl_finds_nothing_high_or_critical(host: Host, deb: Path, acme: Acme, tmp_path: Path) -> None:
    host.run("apt-get", "install", "--yes", "certbot")
    host.apt_install(deb)
    settings(host, f"SERVER_NAMES={NAME}\nTLS=acme\nACME_SERVER={acme.directory}\nHSTS=yes\n")
    host.run("flaskapp-site", "certificate")
    report = tmp_path / "testssl.json"
    # --nodns none: the name is the test's own, and no lookup leaves this machine. Every check
    # of testssl's default run but its client simulation (-c), whose findings are all INFO:
    # protocols, cipher categories, forward secrecy, the server's preferences and defaults (its
    # certificate), HTTP headers, vulnerabilities.
    subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
                    "-p", "-s", "-f", "-P", "-S", "-h", "-U",
                    "--jsonfile", str(report), "--add-ca", str(acme.root), "--ip", host.address,
                    f"https://{NAME}/"],
                   capture_output=True, text=True, timeout=900)
    findings = json.loads(report.read_text())
    serious = {finding["id"]: finding["finding"] for finding in findings
               if finding["severity"] in ("HIGH", "CRITICAL")}
    print(f"testssl: {len(findings)} findings; HIGH or CRITICAL: {serious}")
    assert set(serious) <= set(FROM_THE_TEST_CA), serious
