"""An app of one's own in the slot: its instance folder is the service's writable state,
and an app that cannot be loaded fails the install instead of the first visitor."""

from __future__ import annotations

from pathlib import Path

from .apps import STATE, STYLE
from .host import Host, said


def test_the_apps_instance_folder_is_writable_state_kept_until_purge(host: Host, counting_deb: Path) -> None:
    output = host.apt_install(counting_deb).stdout
    assert "running the app's install command: flaskapp init-counter" in output
    host.wait_until_serving()
    assert [host.get("/visits").text for _ in range(2)] == ["101", "102"]
    counter = host.file(f"{STATE}/flaskapp-instance/visits")
    assert (counter.user, counter.content) == ("flaskapp", "102")
    state = host.file(STATE)
    assert (state.user, state.group, state.mode) == ("flaskapp", "flaskapp", 0o750)
    # The package's own bookkeeping stays root's.
    assert host.file("/var/lib/flaskapp/nginx").user == "root"

    host.run("systemctl", "restart", "flaskapp")
    assert host.get("/visits").text == "103"
    assert not host.file("/opt/venvs/.flaskapp-running").exists
    host.run("apt-get", "remove", "--yes", "flaskapp")
    assert counter.content == "103"
    host.run("apt-get", "purge", "--yes", "flaskapp")
    assert not host.file("/var/lib/flaskapp").exists


def test_static_files_are_served_by_nginx_alone_and_revalidated(host: Host, counting_deb: Path) -> None:
    host.apt_install(counting_deb)
    # gunicorn is not there to see the request: nginx serves it straight from the venv.
    host.run("systemctl", "stop", "flaskapp.socket", "flaskapp.service")
    response = host.get("/static/app.css")
    assert response.status_code == 200 and response.text == STYLE
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # the site's headers too
    again = host.get("/static/app.css", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    # The site names no Python version: it outlives a distribution upgrade.
    assert "python3" not in host.file("/var/lib/flaskapp/nginx/static.conf").content



def test_the_apps_cli_runs_as_the_service(host: Host, counting_deb: Path) -> None:
    host.apt_install(counting_deb)
    assert "counter set to 100" in host.run("flaskapp", "init-counter").stdout
    counter = host.file(f"{STATE}/flaskapp-instance/visits")
    assert counter.user == "flaskapp"
    assert host.get("/visits").text == "101"  # what the CLI wrote, the service reads and writes
    assert "/visits" in host.run("flaskapp", "routes").stdout

    refused = host.run("runuser", "-u", "nobody", "--", "flaskapp", "routes", check=False)
    assert refused.returncode == 1
    assert "run it as root" in refused.stderr

    # The service's sandbox is the CLI's: no network, until a drop-in gives the service some.
    no_network = host.run("flaskapp", "net-check", check=False)
    assert no_network.returncode == 1 and "no network" in said(no_network)
    host.run("mkdir", "-p", "/etc/systemd/system/flaskapp.service.d")
    host.file("/etc/systemd/system/flaskapp.service.d/network.conf").write(
        "[Service]\nPrivateNetwork=no\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n")
    host.run("systemctl", "daemon-reload")
    assert host.run("flaskapp", "net-check").stdout.strip() == "network: yes"


def test_an_app_that_cannot_be_loaded_fails_the_install_with_its_traceback(
    host: Host, broken_deb: Path
) -> None:
    result = host.apt_install(broken_deb, check=False)
    assert result.returncode != 0
    assert "RuntimeError: no database configured" in said(result)
    assert "the app cannot be loaded" in said(result)
    assert not host.service("flaskapp.service").is_active


def test_an_upgrade_to_an_app_that_cannot_be_loaded_keeps_the_old_version_serving(
    installed: Host, deb: Path, broken_deb: Path
) -> None:
    result = installed.apt_install(broken_deb, check=False)
    assert result.returncode != 0
    assert "RuntimeError: no database configured" in said(result)
    assert installed.get("/").text == "Hello World!"
    assert installed.get("/healthz").json()["version"] == deb.name.split("_")[1]
