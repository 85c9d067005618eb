"""An app of one's own in the slot: its instance folder is the service's writable state,
and an app that cannot be loaded fails the install instead of the first visitor."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import REPO
from .builds import build_newer_deb
from .host import Host, said

# A view that keeps a count in the app's instance folder, made the way Flask's tutorial
# makes it (os.makedirs(app.instance_path)), with no code for the package.
COUNTER = '''

import os
import socket

import click
from flask import current_app

bp.cli_group = None  # its commands are the app's own: `flaskapp init-counter`


@bp.get("/visits")
def visits() -> str:
    os.makedirs(current_app.instance_path, exist_ok=True)
    path = os.path.join(current_app.instance_path, "visits")
    count = int(open(path).read()) + 1 if os.path.exists(path) else 1
    with open(path, "w") as file:
        file.write(str(count))
    return str(count)


@bp.cli.command("init-counter")
def init_counter() -> None:
    os.makedirs(current_app.instance_path, exist_ok=True)
    with open(os.path.join(current_app.instance_path, "visits"), "w") as file:
        file.write("100")
    click.echo("counter set to 100")


@bp.cli.command("net-check")
def net_check() -> None:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except OSError as error:
        raise SystemExit(f"no network: {error}") from None
    click.echo("network: yes")


@bp.cli.command("migrate-counter")
def migrate_counter() -> None:
    # Version 2's migration, which needs what an admin configures (a database's address, say).
    if not current_app.config.get("MIGRATION_OK"):
        raise SystemExit("database unreachable: set FLASKAPP_MIGRATION_OK=true")
    with open(os.path.join(current_app.instance_path, "migrated"), "w") as file:
        file.write("yes")
'''
STATE = "/var/lib/flaskapp/app"


def declare(source: Path, phase: str, command: str) -> None:
    """What the README says an app's developer writes in setup.cfg."""
    setup_cfg = source / "setup.cfg"
    setup_cfg.write_text(setup_cfg.read_text().replace(f"\n{phase} =\n", f"\n{phase} = {command}\n"))


STYLE = "body { color: teal; }\n"


def add_counter(source: Path) -> None:
    views = source / "src/flaskapp/views.py"
    views.write_text(views.read_text() + COUNTER)
    declare(source, "install", "init-counter")
    (source / "src/flaskapp/static").mkdir()
    (source / "src/flaskapp/static/app.css").write_text(STYLE)


def add_a_migration(source: Path) -> None:
    add_counter(source)
    declare(source, "upgrade", "migrate-counter")


def break_the_factory(source: Path) -> None:
    init = source / "src/flaskapp/__init__.py"
    init.write_text(init.read_text().replace(
        '    app = Flask(__name__)\n', '    raise RuntimeError("no database configured")\n'))


@pytest.fixture(scope="module")
def counting_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_newer_deb(REPO, tmp_path_factory.mktemp("counting"), "+counting1", add_counter)


@pytest.fixture(scope="module")
def migrating_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_newer_deb(REPO, tmp_path_factory.mktemp("migrating"), "+counting2", add_a_migration)


@pytest.fixture(scope="module")
def broken_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_newer_deb(REPO, tmp_path_factory.mktemp("broken"), "+broken1", break_the_factory)


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


def test_a_failing_migration_leaves_the_old_version_serving_until_fixed(
    host: Host, counting_deb: Path, migrating_deb: Path
) -> None:
    host.apt_install(counting_deb)
    host.wait_until_serving()
    assert host.get("/visits").text == "101"

    result = host.apt_install(migrating_deb, check=False)

    assert result.returncode != 0
    assert "database unreachable" in said(result)
    assert "the app's upgrade command 'flaskapp migrate-counter' failed" in said(result)
    assert host.get("/visits").text == "102"  # the old version, and its data
    assert host.get("/healthz").json()["version"] == counting_deb.name.split("_")[1]
    # Its workers replaced meanwhile (a reload replaces them all) still run the old version,
    # from the copy preinst kept, though dpkg has unpacked the new one.
    host.run("systemctl", "reload", "flaskapp")
    assert host.get("/healthz").json()["version"] == counting_deb.name.split("_")[1]
    assert host.file("/opt/venvs/.flaskapp-running").is_directory

    env = host.file("/etc/flaskapp/flaskapp.env")
    env.write(env.content + "FLASKAPP_MIGRATION_OK=true\n")
    host.run("dpkg", "--configure", "-a")
    assert host.get("/healthz").json()["version"] == migrating_deb.name.split("_")[1]
    assert host.file(f"{STATE}/flaskapp-instance/migrated").content == "yes"
    assert host.get("/visits").text == "103"
    assert not host.file("/opt/venvs/.flaskapp-running").exists


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
