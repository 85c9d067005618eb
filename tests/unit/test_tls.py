"""HTTPS settings and what flaskapp-site writes for nginx from them (no nginx, no CA)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from flaskapp_site import tls
from flaskapp_site.settings import LETS_ENCRYPT, Settings, SettingsError, load

OLD_NGINX, NEW_NGINX = (1, 22, 1), (1, 26, 3)


def settings_from(tmp_path: Path, text: str) -> Settings:
    (tmp_path / "site.conf").write_text(text)
    return load(tmp_path / "site.conf", tmp_path / "none")


def key_pair(tmp_path: Path, name: str, days: int = 2) -> tls.Certificate:
    certificate = tls.Certificate(tmp_path / f"{name}.crt", tmp_path / f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                    "-days", str(days), "-keyout", str(certificate.key), "-out", str(certificate.chain)],
                   check=True, capture_output=True)
    return certificate


def test_tls_is_off_unless_set(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "")
    assert (settings.tls, settings.hsts, settings.acme_server) == ("off", False, LETS_ENCRYPT)


@pytest.mark.parametrize(("text", "complaint"), [
    ("TLS=maybe", "must be off, acme or own"),
    ("TLS=acme", "needs SERVER_NAMES to be the site's host names"),
    ("SERVER_NAMES=*.example.org\nTLS=acme", "not *.example.org"),
    ("TLS=own\nTLS_CERTIFICATE=/etc/ssl/site.pem", "needs TLS_CERTIFICATE and TLS_KEY"),
    ("ACME_SERVER=http://ca.example.org/dir", "must be an https:// directory URL"),
    ("HSTS=forever", "must be yes or no"),
])
def test_tls_settings_that_mean_nothing_are_refused(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(complaint)):
        settings_from(tmp_path, text + "\n")


def test_acme_settings(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "SERVER_NAMES=app.example.org\nTLS=ACME\nHSTS=yes\n"
                                       "ACME_SERVER=https://ca.internal/dir\nACME_EMAIL=ops@example.org\n")
    assert (settings.tls, settings.hsts) == ("acme", True)
    command = tls.certbot_command(settings)
    assert command[:2] == ["certbot", "certonly"]
    for argument in ("--server=https://ca.internal/dir", "--email=ops@example.org", "--cert-name=flaskapp",
                     "--domain=app.example.org", "--deploy-hook=systemctl reload nginx", "--non-interactive"):
        assert argument in command
    anonymous = tls.certbot_command(Settings(server_names=["a.example.org"], tls="acme"))
    assert "--register-unsafely-without-email" in anonymous


def test_before_its_certificate_the_site_serves_acme_challenges_over_http() -> None:
    text = tls.render_tls(Settings(server_names=["a.example.org"], tls="acme"), None, OLD_NGINX)
    assert "location ^~ /.well-known/acme-challenge/" in text and f"root {tls.WEBROOT};" in text
    assert "ssl_certificate" not in text and "return 301" not in text


def test_with_a_certificate_everything_but_challenges_and_healthz_goes_to_https(tmp_path: Path) -> None:
    certificate = tls.Certificate(tmp_path / "chain.pem", tmp_path / "key.pem")
    text = tls.render_tls(Settings(server_names=["a.example.org"], tls="own"), certificate, OLD_NGINX)
    assert f"ssl_certificate {certificate.chain};" in text
    assert f"ssl_certificate_key {certificate.key};" in text
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text and "ssl_stapling" not in text
    assert "return 301 https://$host$request_uri;" in text
    assert "healthz" in text and "acme-challenge" in text
    assert "Strict-Transport-Security" not in text  # off unless HSTS=yes
    hsts = tls.render_tls(Settings(tls="own", hsts=True), certificate, OLD_NGINX)
    assert 'add_header Strict-Transport-Security "max-age=63072000" always;' in hsts


def test_http2_is_spelled_for_each_nginx() -> None:
    assert tls.render_listen_https(True, OLD_NGINX) == (
        "listen 443 ssl http2 default_server;\nlisten [::]:443 ssl http2 default_server;\n")
    assert tls.render_listen_https(False, NEW_NGINX) == "listen 443 ssl;\nlisten [::]:443 ssl;\n"
    certificate = tls.Certificate(Path("/c"), Path("/k"))
    assert "http2 on;" in tls.render_tls(Settings(tls="own"), certificate, NEW_NGINX)
    assert "http2 on;" not in tls.render_tls(Settings(tls="own"), certificate, OLD_NGINX)


def test_an_own_certificate_is_checked_against_its_key(tmp_path: Path) -> None:
    site, other = key_pair(tmp_path, "site.example.org"), key_pair(tmp_path, "other.example.org")
    good = Settings(tls="own", tls_certificate=str(site.chain), tls_key=str(site.key))
    assert tls.own_certificate(good) == site
    mismatched = Settings(tls="own", tls_certificate=str(site.chain), tls_key=str(other.key))
    with pytest.raises(tls.TlsError, match="does not belong to the certificate"):
        tls.own_certificate(mismatched)
    with pytest.raises(tls.TlsError, match="does not exist"):
        tls.own_certificate(Settings(tls="own", tls_certificate="/nonexistent.pem", tls_key=str(site.key)))
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    with pytest.raises(tls.TlsError, match="not a PEM certificate"):
        tls.own_certificate(Settings(tls="own", tls_certificate=str(tmp_path / "garbage.pem"),
                                     tls_key=str(site.key)))
    assert tls.names_covered(site) == {"site.example.org"}
