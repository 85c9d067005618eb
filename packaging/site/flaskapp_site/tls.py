"""HTTPS for the site: which certificate (none, the one certbot obtained from an ACME CA, or
the admin's own) and what nginx is told about it.

Nothing here edits the nginx conffile: the site includes tls.conf, which flaskapp-site
writes (empty with TLS=off), and listen.conf's 443 lines.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .settings import SETTINGS, Settings

# certbot's lineage for the site, and the directory its HTTP-01 challenges are served from.
CERT_NAME = "flaskapp"
LIVE = Path("/etc/letsencrypt/live") / CERT_NAME
WEBROOT = Path("/var/lib/flaskapp/acme")

# Mozilla's "intermediate" configuration (ssl-config.mozilla.org, guideline 5.7): TLS 1.2
# and 1.3, forward-secret AEAD ciphers only (its DHE ones need a dhparam file: left out). One
# change: the server's cipher order is preferred. Mozilla leaves it to the client, as every
# cipher here is strong; Debian's testssl.sh rates a missing order HIGH, and the server's
# order costs nothing. No OCSP stapling: Let's Encrypt ended its OCSP service in 2025.
INTERMEDIATE = """\
ssl_protocols TLSv1.2 TLSv1.3;
ssl_ecdh_curve X25519:prime256v1:secp384r1;
ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
ssl_prefer_server_ciphers on;
ssl_session_timeout 1d;
ssl_session_cache shared:flaskapp_tls:10m;
ssl_session_tickets off;
"""
HSTS_MAX_AGE = 63072000  # two years, as Mozilla advises

Say = Callable[[str], None]


class TlsError(Exception):
    """The certificate cannot be used or obtained: nothing was changed; this says why."""


@dataclass(frozen=True)
class Certificate:
    chain: Path
    key: Path


def openssl(*argv: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *argv], capture_output=True, text=True, input=input)


def public_key_of(what: str, path: Path) -> str:
    """The PEM public key of a certificate ("x509") or of a private key ("pkey")."""
    if what == "x509":
        result = openssl("x509", "-in", str(path), "-noout", "-pubkey")
    else:
        result = openssl("pkey", "-in", str(path), "-pubout")
    if result.returncode != 0:
        kind = "certificate" if what == "x509" else "private key"
        raise TlsError(f"{path} is not a PEM {kind} openssl can read: {result.stderr.strip()}")
    return result.stdout


def check_pair(certificate: Certificate) -> None:
    for path in (certificate.chain, certificate.key):
        if not path.is_file():
            raise TlsError(f"{path} does not exist")
    if public_key_of("x509", certificate.chain) != public_key_of("pkey", certificate.key):
        raise TlsError(f"the key {certificate.key} does not belong to the certificate {certificate.chain}")
    if openssl("x509", "-in", str(certificate.chain), "-noout", "-checkend", "0").returncode != 0:
        raise TlsError(f"the certificate {certificate.chain} has expired")


def own_certificate(settings: Settings) -> Certificate:
    """TLS=own: the admin's files, checked before nginx is told of them."""
    certificate = Certificate(Path(settings.tls_certificate), Path(settings.tls_key))
    try:
        check_pair(certificate)
    except TlsError as error:
        raise TlsError(f"TLS=own in {SETTINGS}: {error}") from None
    return certificate


def acme_certificate() -> Certificate | None:
    """TLS=acme: certbot's certificate for the site, once obtained."""
    certificate = Certificate(LIVE / "fullchain.pem", LIVE / "privkey.pem")
    return certificate if certificate.chain.exists() and certificate.key.exists() else None


def certificate_for(settings: Settings) -> Certificate | None:
    """The certificate the site serves HTTPS with, or None for plain HTTP."""
    if settings.tls == "own":
        return own_certificate(settings)
    if settings.tls == "acme":
        return acme_certificate()
    return None


def names_covered(certificate: Certificate) -> set[str]:
    result = openssl("x509", "-in", str(certificate.chain), "-noout", "-ext", "subjectAltName")
    return set(re.findall(r"DNS:([^,\s]+)", result.stdout))


def nginx_version() -> tuple[int, ...]:
    result = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", result.stderr + result.stdout)
    return tuple(int(part) for part in match.groups()) if match else (0, 0, 0)


def http2_directive_supported(version: tuple[int, ...]) -> bool:
    """nginx 1.25.1 (trixie's 1.26) says `http2 on;`; before (bookworm's 1.22), `listen ... http2`."""
    return version >= (1, 25, 1)


def render_listen_https(default_server: bool, version: tuple[int, ...]) -> str:
    flag = " default_server" if default_server else ""
    http2 = "" if http2_directive_supported(version) else " http2"
    return f"listen 443 ssl{http2}{flag};\nlisten [::]:443 ssl{http2}{flag};\n"


def render_tls(settings: Settings, certificate: Certificate | None, version: tuple[int, ...]) -> str:
    """tls.conf, included in the site's server block."""
    lines = ["# Written by flaskapp-site from /etc/flaskapp/site.conf (TLS, HSTS): edit that file,",
             "# then run `flaskapp-site apply`. Included by /etc/nginx/sites-available/flaskapp."]
    if settings.tls == "acme":
        lines += ["# certbot's HTTP-01 challenges (flaskapp-site certificate, certbot's renewals).",
                  "location ^~ /.well-known/acme-challenge/ {",
                  f"    root {WEBROOT};",
                  '    default_type "text/plain";',
                  "}"]
    if certificate is None:
        return "\n".join(lines + ["# No certificate in use: HTTP only."]) + "\n"
    lines += [f"ssl_certificate {certificate.chain};",
              f"ssl_certificate_key {certificate.key};",
              INTERMEDIATE.rstrip("\n")]
    if http2_directive_supported(version):
        lines.append("http2 on;")
    if settings.hsts:
        lines.append(f'add_header Strict-Transport-Security "max-age={HSTS_MAX_AGE}" always;')
    lines += ["# Everything to HTTPS but ACME challenges and the health check, which load",
              "# balancers must see answered, not redirected.",
              "set $flaskapp_to_https $scheme;",
              'if ($request_uri ~ "^/(\\.well-known/acme-challenge/|healthz(\\?|$))") {',
              "    set $flaskapp_to_https exempt;",
              "}",
              "if ($flaskapp_to_https = http) {",
              "    return 301 https://$host$request_uri;",
              "}"]
    return "\n".join(lines) + "\n"


# --- obtaining a certificate (flaskapp-site certificate) ----------------------------------------

def certbot_command(settings: Settings) -> list[str]:
    contact = ([f"--email={settings.acme_email}"] if settings.acme_email
               else ["--register-unsafely-without-email"])
    return ["certbot", "certonly", "--non-interactive", "--agree-tos", *contact,
            f"--server={settings.acme_server}", f"--cert-name={CERT_NAME}",
            "--webroot", f"--webroot-path={WEBROOT}",
            # Renewals (certbot's own timer) reload nginx gracefully: no request fails.
            "--deploy-hook=systemctl reload nginx",
            *(f"--domain={name}" for name in settings.server_names)]


def obtain(settings: Settings, say: Say) -> None:
    """Asks the ACME CA for a certificate for SERVER_NAMES, proving them through the running
    site (HTTP-01, nginx serving WEBROOT): nginx is never stopped."""
    if shutil.which("certbot") is None:
        raise TlsError("TLS=acme needs certbot: apt install certbot")
    WEBROOT.mkdir(parents=True, exist_ok=True)
    say(f"asking {settings.acme_server} for a certificate for {' '.join(settings.server_names)}")
    result = subprocess.run(certbot_command(settings), capture_output=True, text=True)
    if result.returncode != 0:
        said = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and not line.startswith(("Saving debug log", "Ask for help",
                                                         "See the logfile", "Requesting a certificate"))]
        raise TlsError("certbot could not obtain a certificate:\n"
                       + "\n".join("    " + line for line in said[-12:])
                       + "\nThe site keeps serving as it was (see /var/log/letsencrypt/letsencrypt.log).")

