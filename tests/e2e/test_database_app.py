"""An app that keeps its data in PostgreSQL (Debian's, in the host) over TCP: the service's
sandbox has no network until the drop-in the README documents gives it some, and its CLI
(the app's init-db, run by postinst) gets the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from .apps import declare
from .builds import lock
from .conftest import hosts_with_nginx, newer_build
from .host import Host, said

host = hosts_with_nginx()  # servers with nginx and python3 already (tests/e2e/conftest.py)

NOTES = '''

import click
import pg8000.native
from flask import current_app, request

bp.cli_group = None  # its commands are the app's own: `flaskapp init-db`

def database() -> pg8000.native.Connection:
    config = current_app.config
    return pg8000.native.Connection(config["DB_USER"], password=config["DB_PASSWORD"],
                                    host="127.0.0.1", database=config["DB_NAME"])


@bp.cli.command("init-db")
def init_db() -> None:
    connection = database()
    connection.run("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, text text NOT NULL)")
    connection.close()
    click.echo("database ready")


@bp.post("/notes")
def add_note() -> tuple[str, int]:
    connection = database()
    connection.run("INSERT INTO notes (text) VALUES (:text)", text=request.get_data(as_text=True))
    connection.close()
    return "", 201


@bp.get("/notes")
def notes() -> str:
    connection = database()
    rows = connection.run("SELECT text FROM notes ORDER BY id")
    connection.close()
    return "\\n".join(row[0] for row in rows)
'''
# pg8000, a driver in pure Python, as an app's requirements.txt names it: what it needs is
# make lock's to find.
REQUIREMENTS = "pg8000==1.31.6\n"
# The README's drop-in, and the database's settings in a file of the admin's.
DROP_IN = """[Service]
PrivateNetwork=no
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
EnvironmentFile=/etc/flaskapp/database.env
"""
DATABASE_ENV = "FLASKAPP_DB_USER=notes\nFLASKAPP_DB_PASSWORD=notes-secret\nFLASKAPP_DB_NAME=notes\n"
DATABASE_URL = "postgresql://$FLASKAPP_DB_USER:$FLASKAPP_DB_PASSWORD@127.0.0.1/$FLASKAPP_DB_NAME"


def add_notes(source: Path) -> None:
    views = source / "src/flaskapp/views.py"
    views.write_text(views.read_text() + NOTES)
    # The README's step: the app's requirements in its tree, then `make lock`.
    (source / "src/requirements.txt").write_text(REQUIREMENTS)
    lock(source)
    declare(source, "install", "init-db")
    # Its data is the database server's: in a backup by the commands it declares.
    declare(source, "backup", f'pg_dump --clean --if-exists --no-owner "{DATABASE_URL}"')
    declare(source, "restore", f'psql --quiet --single-transaction --set ON_ERROR_STOP=1 "{DATABASE_URL}"')


@pytest.fixture(scope="module")
def notes_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return newer_build(tmp_path_factory, "+notes1", add_notes)


def test_an_app_with_a_postgresql_database_and_the_documented_drop_in(host: Host, notes_deb: Path) -> None:
    # What debian-installer writes on every server: its own name resolves (ssl-cert needs it).
    host.run("sh", "-c", 'echo "127.0.1.1 $(hostname)" >> /etc/hosts')
    host.run("apt-get", "install", "--yes", "postgresql")
    host.run("runuser", "-u", "postgres", "--", "psql", "-c",
             "CREATE ROLE notes LOGIN PASSWORD 'notes-secret'")
    host.run("runuser", "-u", "postgres", "--", "createdb", "--owner=notes", "notes")
    host.run("mkdir", "-p", "/etc/flaskapp", "/etc/systemd/system/flaskapp.service.d")
    host.file("/etc/flaskapp/database.env").write(DATABASE_ENV)
    host.run("chmod", "0600", "/etc/flaskapp/database.env")
    host.file("/etc/systemd/system/flaskapp.service.d/database.conf").write(DROP_IN)

    result = host.apt_install(notes_deb)

    assert "database ready" in said(result)  # postinst ran the app's init-db, with network
    host.wait_until_serving()
    assert host.run("curl", "--silent", "--data", "first note", "http://localhost/notes").returncode == 0
    assert host.get("/notes").text == "first note"
    host.run("systemctl", "restart", "flaskapp")
    assert host.get("/notes").text == "first note"

    # A backup holds the database server's data too (the app's declared dump), and a restore
    # loads it back: a note added after the backup is gone again.
    made = host.run("flaskapp-site", "backup")
    [backup] = made.stdout.split("backup written and checked: ")[1].split()[:1]
    host.run("curl", "--silent", "--data", "second note", "http://localhost/notes")
    assert host.get("/notes").text == "first note\nsecond note"
    restored = host.run("flaskapp-site", "restore", backup)
    assert "loading the app's own data: its restore command" in restored.stdout, said(restored)
    host.wait_until_serving()
    assert host.get("/notes").text == "first note"

    # Without the drop-in, the sandbox has no network: the app's database is out of reach.
    host.run("rm", "/etc/systemd/system/flaskapp.service.d/database.conf")
    host.run("systemctl", "daemon-reload")
    assert host.run("flaskapp", "init-db", check=False).returncode != 0
