"""The app's own user, with code execution (the case the sandbox is for), cannot make root do
more than the app may: what the app says of itself at the next configure is refused unless
it is a plain static folder of the package's, and nginx follows no link into the system."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import booted_host
from .host import Host, said

INSTANCE = "/var/lib/flaskapp/app/taskboard-instance"
# Taskboard reads its instance folder's config.py at every load (as Flask's tutorial does):
# code the app's user can plant, which then runs in the app. This finds the app being made.
FIND_THE_APP = """import os, sys
frame = sys._getframe()
while "app" not in frame.f_locals:
    frame = frame.f_back
app = frame.f_locals["app"]
"""
ATTACKS = {
    # Flask makes "/" its root path: the app's user forges the description's last line instead.
    "static folder at /": ('import atexit, json\n'
                           'atexit.register(print, json.dumps({"static_url_path": "/static", '
                           '"static_folder": "/"}))', "static_folder"),
    "static folder at /etc": ('app.static_folder = "/etc"', "static_folder"),
    "nginx directives in the static URL path": (
        'app.static_url_path = "/static/ { } access_log /etc/profile.d/owned.sh; location /owned"',
        "static_url_path"),
    "a link to /etc/passwd in a static folder of the state": (
        'os.makedirs(app.instance_path + "/static", exist_ok=True)\n'
        'os.path.lexists(app.instance_path + "/static/passwd") or '
        'os.symlink("/etc/passwd", app.instance_path + "/static/passwd")\n'
        'app.static_folder = app.instance_path + "/static"', "static_folder"),
}


@pytest.fixture(scope="module")
def taskboard_host(image: Path, taskboard_1: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    with booted_host(image, tmp_path_factory.mktemp("boundary"), "trust-boundary") as host:
        host.apt_install(taskboard_1)
        host.wait_until_serving(path="/auth/login", body=None)
        yield host


def outside_the_state(host: Host) -> set[str]:
    """Every file where the app's user may not write, but the copy of the running version
    that dpkg-reconfigure's preinst makes (the upgrade pin: the same files, root's)."""
    found = host.run("find", "/etc", "/opt", "/usr", "/var/lib/flaskapp/nginx", "/root", "-xdev").stdout
    return {path for path in found.splitlines() if not path.startswith("/opt/venvs/.flaskapp-")}


@pytest.mark.parametrize("attack", ATTACKS)
def test_what_the_apps_user_plants_does_not_reach_nginx(taskboard_host: Host, attack: str) -> None:
    host = taskboard_host
    code, setting = ATTACKS[attack]
    static_conf = host.file("/var/lib/flaskapp/nginx/static.conf").content
    before = outside_the_state(host)
    host.run("runuser", "-u", "flaskapp", "--", "tee", f"{INSTANCE}/config.py", input=FIND_THE_APP + code)
    try:
        reconfigure = host.run("dpkg-reconfigure", "flaskapp", check=False)

        assert reconfigure.returncode != 0
        assert setting in said(reconfigure) and "Nothing was changed" in said(reconfigure)
        assert host.file("/var/lib/flaskapp/nginx/static.conf").content == static_conf
        assert outside_the_state(host) == before
        served = host.file("/var/lib/flaskapp/nginx/static").linked_to
        assert served.startswith(("/opt/venvs/flaskapp/", "/opt/venvs/.flaskapp-running/")), served
        assert not host.file("/etc/profile.d/owned.sh").exists
        assert host.run("nginx", "-t", check=False).returncode == 0
        # nginx alone (gunicorn stopped) serves nothing of the system's.
        host.run("systemctl", "stop", "flaskapp.socket", "flaskapp.service")
        for path in ("/static/etc/passwd", "/static/passwd", "/owned/"):
            assert "root:x:0:0" not in host.get(path).text
        assert host.get("/static/style.css").status_code == 200
        host.run("systemctl", "start", "flaskapp.socket")
        assert host.get("/auth/login").status_code == 200  # the app still serves
    finally:
        host.run("rm", "-f", f"{INSTANCE}/config.py")
        host.run("systemctl", "start", "flaskapp.socket")
    assert host.run("dpkg-reconfigure", "flaskapp").returncode == 0  # fixed: configure passes


def test_nginx_follows_no_link_in_the_static_folder(taskboard_host: Host) -> None:
    host = taskboard_host
    # Where nginx serves the app's static folder from (its tree in the venv).
    static = host.run("readlink", "--canonicalize", "/var/lib/flaskapp/nginx/static").stdout.strip()
    assert static == "/opt/venvs/flaskapp/src/taskboard/static"
    host.run("ln", "-s", "/etc/passwd", f"{static}/passwd")
    try:
        assert host.get("/static/passwd").status_code in (403, 404)
        assert host.get("/static/style.css").status_code == 200
    finally:
        host.run("rm", f"{static}/passwd")
