"""The nginx settings flaskapp-site writes, and how it finds another default server."""

from __future__ import annotations

from pathlib import Path

import pytest
from flaskapp_site import nginx
from flaskapp_site.settings import Settings, SettingsError, load

from ..conftest import REPO


@pytest.mark.parametrize(("listen", "claims"), [
    ("listen 80 default_server;", True),
    ("listen [::]:80 default_server ipv6only=on;", True),
    ("listen 0.0.0.0:80 default;", True),
    ("listen 127.0.0.1 default_server;", True),
    ("listen 80;", False),
    ("listen 443 ssl default_server;", False),
    ("# listen 80 default_server;", False),
])
def test_which_sites_claim_the_default_server(listen: str, claims: bool) -> None:
    assert nginx.claims_default(f"server {{\n    {listen}\n}}\n") is claims


def test_another_default_server_decides_auto(tmp_path: Path) -> None:
    paths = nginx.Paths(nginx=tmp_path, state=tmp_path / "state")
    (tmp_path / "sites-enabled").mkdir()
    (tmp_path / "sites-enabled/flaskapp").write_text("listen 80 default_server;")
    assert nginx.default_role(Settings(), paths)[0] is True
    (tmp_path / "sites-enabled/shop").write_text("server { listen 80 default_server; }")
    is_default, answers = nginx.default_role(Settings(), paths)
    assert not is_default and "sites-enabled/shop" in answers
    assert nginx.default_role(Settings(default_server="no"), paths)[0] is False


def test_listen_conf_from_settings() -> None:
    text = nginx.render_listen(Settings(server_names=["example.org", "www.example.org"]), True)
    assert "listen 80 default_server;" in text and "listen [::]:80 default_server;" in text
    assert "server_name example.org www.example.org;" in text
    assert "default_server" not in nginx.render_listen(Settings(), False)


def test_the_site_takes_listen_and_server_name_from_listen_conf() -> None:
    site = (REPO / "packaging/nginx/flaskapp").read_text()
    assert f"include {nginx.STATE / 'listen.conf'};" in site
    assert "server_name" not in site.replace("# listen and server_name", "")


def test_a_snapshot_puts_back_links_and_files(tmp_path: Path) -> None:
    paths = nginx.Paths(nginx=tmp_path, state=tmp_path / "state")
    (tmp_path / "sites-enabled").mkdir()
    paths.state.mkdir()
    paths.default_link.symlink_to("../sites-available/default")
    snapshot = nginx.Snapshot.take(paths)
    paths.default_link.unlink()
    paths.link.symlink_to("../sites-available/flaskapp")
    paths.listen_conf.write_text("listen 80;")
    snapshot.restore()
    assert paths.default_link.is_symlink() and not paths.link.is_symlink()
    assert not paths.listen_conf.exists()


def a_venv(root: Path) -> Path:
    """A venv laid out as the build makes it: lib/python3 -> python3.13, var -> the state."""
    venv = root / "opt/venvs/flaskapp"
    (venv / "lib/python3.13/site-packages/blog/static").mkdir(parents=True)
    (venv / "lib/python3").symlink_to("python3.13")
    (root / "state/app").mkdir(parents=True)
    (venv / "var").symlink_to(root / "state/app")
    return venv


def test_the_static_link_names_no_python_version(tmp_path: Path) -> None:
    venv = a_venv(tmp_path)
    paths = nginx.Paths(nginx=tmp_path, state=tmp_path / "state", venv=venv, running=tmp_path / "running")
    folder = venv / "lib/python3.13/site-packages/blog/static"
    paths.app_description.write_text(f'{{"static_url_path": "/assets", "static_folder": "{folder}"}}\n')
    nginx.write_static(paths, pytest.fail)
    assert paths.static_link.readlink() == venv / "lib/python3/site-packages/blog/static"
    static_conf = paths.static_conf.read_text()
    assert "location /assets/ {" in static_conf
    # The one link nginx follows is flaskapp-site's own.
    assert f"disable_symlinks on from={paths.static_link};" in static_conf

    paths.app_description.write_text('{"static_url_path": null, "static_folder": null}\n')
    nginx.write_static(paths, pytest.fail)
    assert not paths.static_link.is_symlink()
    assert "location" not in paths.static_conf.read_text()


def test_while_an_upgrade_is_pinned_the_link_goes_to_the_running_copy(tmp_path: Path) -> None:
    venv = a_venv(tmp_path)
    paths = nginx.Paths(nginx=tmp_path, state=tmp_path / "state", venv=venv, running=tmp_path / "running")
    paths.running.mkdir()
    folder = venv / "lib/python3.13/site-packages/blog/static"
    paths.app_description.write_text(f'{{"static_url_path": "/static", "static_folder": "{folder}"}}\n')
    nginx.write_static(paths, pytest.fail)
    assert paths.static_link.readlink() == paths.running / "lib/python3/site-packages/blog/static"


def test_a_description_planted_in_the_record_serves_nothing(tmp_path: Path) -> None:
    venv = a_venv(tmp_path)
    paths = nginx.Paths(nginx=tmp_path, state=tmp_path / "state", venv=venv, running=tmp_path / "running")
    paths.app_description.write_text('{"static_url_path": "/static", "static_folder": "/"}\n')
    warnings = []
    nginx.write_static(paths, warnings.append)
    assert "location" not in paths.static_conf.read_text()
    assert not paths.static_link.is_symlink()
    assert "static_folder" in warnings[0]


def test_the_app_sees_one_of_the_server_names_as_the_host_never_a_made_up_one() -> None:
    written = nginx.render_host_names(Settings(server_names=["app.example.org", "*.example.org",
                                                             "~^www\\d+\\.example\\.org$"]))
    entries = [line for line in written.splitlines() if not line.startswith("#")]
    assert entries == ["app.example.org $host;", "*.example.org $host;", "~^www\\d+\\.example\\.org$ $host;",
                       "~. app.example.org;"]
    # Any name at all (the default): nothing to map; the client's host goes through.
    anything = nginx.render_host_names(Settings())
    assert [line for line in anything.splitlines() if not line.startswith("#")] == []
    site = (REPO / "packaging/nginx/flaskapp").read_text()
    assert "include /var/lib/flaskapp/nginx/host-names*.map;" in site
    assert "proxy_set_header Host $flaskapp_host;" in site
    # A client's own X-Forwarded-For is never passed on.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site
    assert "$proxy_add_x_forwarded_for" not in site


def test_only_the_balancers_the_admin_names_say_who_the_client_is(tmp_path: Path) -> None:
    assert "set_real_ip_from" not in nginx.render_trusted_proxies(Settings())
    written = nginx.render_trusted_proxies(Settings(trusted_proxies=["10.0.0.5/32", "fd00::/64"]))
    assert [line for line in written.splitlines() if not line.startswith("#")] == [
        "set_real_ip_from 10.0.0.5/32;", "set_real_ip_from fd00::/64;",
        "real_ip_header X-Forwarded-For;", "real_ip_recursive on;"]
    conf = tmp_path / "site.conf"
    conf.write_text("TRUSTED_PROXIES=10.0.0.5, 10.1.0.0/16\n")
    assert load(conf, tmp_path / "none").trusted_proxies == ["10.0.0.5/32", "10.1.0.0/16"]
    conf.write_text("TRUSTED_PROXIES=lb.example.org\n")
    with pytest.raises(SettingsError, match=r"TRUSTED_PROXIES .*: not an IP address or network: 'lb\."):
        load(conf, tmp_path / "none")
