"""`apt install ./flaskapp_*.deb` on a fresh server: what the tutorial does by hand, in one step."""

from __future__ import annotations

from pathlib import Path

from .host import Host


def test_install_pulls_nginx_onto_a_server_without_it(host: Host, deb: Path) -> None:
    assert not host.file("/usr/sbin/nginx").exists
    host.apt_install(deb)
    assert host.file("/usr/sbin/nginx").exists
    assert host.service("nginx").is_active


def test_hello_world_through_nginx_on_port_80(served: Host) -> None:
    response = served.get("/")
    assert response.status_code == 200
    assert response.text == "Hello World!"
    assert response.headers["Server"].startswith("nginx")


def test_healthz_reports_the_installed_version(served: Host, deb: Path) -> None:
    version = deb.name.split("_")[1]
    response = served.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": version}


def test_socket_and_service_are_enabled_and_active(served: Host) -> None:
    for unit in ("flaskapp.socket", "flaskapp.service"):
        assert served.service(unit).is_enabled, unit
        assert served.service(unit).is_active, unit


def test_gunicorn_runs_unprivileged(served: Host) -> None:
    master = served.service("flaskapp.service").main_pid
    workers = served.file(f"/proc/{master}/task/{master}/children").content.split()
    assert workers
    assert {served.file(f"/proc/{pid}").user for pid in [master, *workers]} == {"flaskapp"}


def test_site_is_linked_and_default_site_disabled(served: Host) -> None:
    site = served.file("/etc/nginx/sites-enabled/flaskapp")
    assert site.is_symlink
    assert site.linked_to == "../sites-available/flaskapp"
    assert not served.file("/etc/nginx/sites-enabled/default").exists
    assert served.file("/etc/nginx/sites-available/default").exists


def test_only_nginx_listens_on_tcp(served: Host) -> None:
    ports = {address.rsplit(":", 1)[1] for address in served.tcp_listeners()}
    assert ports == {"80"}


def test_unix_socket_is_for_nginx_only(served: Host) -> None:
    sock = served.file("/run/flaskapp/gunicorn.sock")
    assert (sock.user, sock.group, sock.mode) == ("root", "www-data", 0o660)


def test_secret_key_is_generated_and_private(served: Host) -> None:
    key = served.file("/etc/flaskapp/secret_key")
    assert (key.user, key.group, key.mode) == ("root", "flaskapp", 0o640)
    assert len(key.content.strip()) == 64
    environment = served.run("systemctl", "show", "--property=Environment", "flaskapp.service")
    assert key.content.strip() not in environment.stdout


def test_units_pass_systemd_analyze_verify(served: Host) -> None:
    result = served.run("systemd-analyze", "verify", "flaskapp.socket", "flaskapp.service", check=False)
    assert result.returncode == 0, result.stderr
    assert "flaskapp" not in result.stderr, result.stderr
