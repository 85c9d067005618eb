"""An app as its authors wrote it: Blog (tests/apps), laid out as microblog, put in the slot as
it is and declared in setup.cfg, built by the README's steps. It finds its own files as in
development (Flask-Migrate's migrations/, Babel's compiled translations, its .flaskenv), reads
its settings from the environment, and keeps its data across an upgrade."""

from __future__ import annotations

from pathlib import Path

import requests

from .conftest import hosts_with_nginx
from .host import Host, said

host = hosts_with_nginx()  # servers with nginx and python3 already (tests/e2e/conftest.py)

SRC = "/opt/venvs/flaskapp/src"
# What the admin writes, the app's own settings (its README's names).
SETTINGS = "DATABASE_URL=sqlite:////var/lib/flaskapp/app/blog.db\nLOG_TO_STDOUT=1\n"


def test_an_app_as_written_builds_installs_migrates_translates_and_keeps_its_data_across_an_upgrade(
        host: Host, blog_1: Path, blog_2: Path) -> None:
    # With none of its settings, it writes into its own tree (logs/, as in development): the
    # install stops, saying what to set, and nothing is lost.
    failed = host.apt_install(blog_1, check=False)
    assert failed.returncode != 0
    assert "Read-only file system: 'logs'" in said(failed)
    assert "LOG_TO_STDOUT=1" in said(failed) and "/var/lib/flaskapp/app" in said(failed)
    secrets = host.file("/etc/flaskapp/secrets.env")
    assert (secrets.user, secrets.group, secrets.mode) == ("root", "flaskapp", 0o640)

    secrets.write(secrets.content + SETTINGS)
    configured = host.run("dpkg", "--configure", "-a")
    assert "running the app's install command: flaskapp db upgrade" in said(configured)
    assert "Running upgrade  -> 2a12dc624110, posts table" in said(configured)
    assert host.wait_until_serving(body="Welcome to the blog")
    # Its Babel catalogue, compiled by its declared build step (not in its git).
    assert host.get("/", headers={"Accept-Language": "es"}).text == "Bienvenido al blog"
    assert host.file(f"{SRC}/app/translations/es/LC_MESSAGES/messages.mo").is_file

    # Its tree as it is: top-level modules and migrations/ where its authors put them, the
    # .flaskenv shipped; the developer's .env not.
    for path in ("config.py", "microblog.py", "migrations/env.py", ".flaskenv", "Procfile"):
        assert host.file(f"{SRC}/{path}").is_file, path
    assert not host.file(f"{SRC}/.env").exists
    assert host.run("grep", "-rl", "the-developers-own", "/opt/venvs/flaskapp", "/etc/flaskapp",
                    check=False).returncode == 1
    # .flaskenv's FLASK_DEBUG=1 is the development server's: the app runs without debug, so
    # it logs its startup to stdout (LOG_TO_STDOUT), into the journal.
    journal = host.run("journalctl", "--unit=flaskapp.service", "--output=cat").stdout
    assert "Microblog startup" in journal

    for body in ("first", "second"):
        posted = requests.post(f"http://{host.address}/posts", data={"body": body}, timeout=10)
        assert posted.status_code == 201
    # Its CLI, as the service, in its tree: Flask-Migrate finds migrations/ with no --directory.
    assert "2a12dc624110 (head)" in host.run("flaskapp", "db", "current").stdout

    upgraded = host.apt_install(blog_2)
    assert "Running upgrade 2a12dc624110 -> 550ae22ab6ba, stars" in said(upgraded)
    host.wait_until_serving(path="/stars", body="0")
    assert host.get("/posts").text == "first\nsecond"
    assert host.file("/var/lib/flaskapp/app/blog.db").is_file
    assert SETTINGS in host.file("/etc/flaskapp/secrets.env").content  # the admin's, kept
