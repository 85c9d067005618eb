"""The nginx settings flaskapp-site writes, and how it finds another default server."""

from __future__ import annotations

from pathlib import Path

import pytest
from flaskapp_site import nginx
from flaskapp_site.settings import Settings

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
