"""The apps the end-to-end tests build into the package, each by the README's steps on a copy
of this tree ("Your own app"): a counter of visits (the hello world with state, CLI
commands, a migration), Taskboard, Blog and Jobqueue (tests/apps)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from ..apps import blog, jobqueue, taskboard
from .builds import lock

# A view that keeps a count in the app's instance folder, made the way Flask's tutorial
# makes it (os.makedirs(app.instance_path)), with no code for the package.
COUNTER = '''

import os
import socket
import time

import click
from flask import current_app, jsonify, request, session, url_for

bp.cli_group = None  # its commands are the app's own: `flaskapp init-counter`


@bp.get("/request")
def what_the_app_sees():
    # What a password-reset link would be built from, and who asked.
    session["seen"] = True
    return jsonify(host=request.host, remote_addr=request.remote_addr,
                   url=url_for("flaskapp.what_the_app_sees", _external=True))


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
    if current_app.config.get("MIGRATION_PAUSE"):
        # A long migration, for the tests that cut the power while it runs.
        open(os.path.join(current_app.instance_path, "migrating"), "w").close()
        time.sleep(current_app.config["MIGRATION_PAUSE"])
    with open(os.path.join(current_app.instance_path, "migrated"), "w") as file:
        file.write("yes")
'''
STATE = "/var/lib/flaskapp/app"


def declare(source: Path, key: str, value: str) -> None:
    """What the README says an app's developer writes in setup.cfg's [flaskapp] section."""
    setup_cfg = source / "setup.cfg"
    text = setup_cfg.read_text()
    line = next(line for line in text.splitlines() if line.startswith(f"{key} ="))
    setup_cfg.write_text(text.replace(f"\n{line}\n", f"\n{key} = {value}\n".replace(" \n", "\n")))


STYLE = "body { color: teal; }\n"
# A scheduled job of the newer version (the upgrades' and the fleet's): it leaves a mark.
HEARTBEAT = f"{STATE}/heartbeat"


def add_a_heartbeat_job(source: Path) -> None:
    declare(source, "jobs", f"heartbeat (*:*:0/2): touch {HEARTBEAT}")


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


TASKBOARD_PROJECT = """[build-system]
requires = ["setuptools==80.9.0"]
build-backend = "setuptools.build_meta"

[project]
name = "taskboard"
version = "{version}"
dependencies = ["flask"]

[tool.setuptools]
packages = ["taskboard"]
"""


def as_taskboard(version: int) -> Callable[[Path], None]:
    """The README's steps ("Your own app") on a copy of the source tree."""
    def change(source: Path) -> None:
        shutil.rmtree(source / "src/flaskapp")
        taskboard(source / "src", version)
        # Its repository is a Python project of its own: installed by its pyproject.toml.
        (source / "src/pyproject.toml").write_text(TASKBOARD_PROJECT.format(version=version))
        declare(source, "app", "taskboard:create_app   # its factory")
        declare(source, "install", "init-db  # creates its tables")
        declare(source, "upgrade", "migrate")
        lock(source)  # its pyproject.toml declares dependencies (flask)
    return change


# A developer's own settings, in the repository's working tree but never in git: not shipped.
DEVELOPERS_ENV = "SECRET_KEY=the-developers-own\nDATABASE_URL=sqlite:////home/dev/blog.db\n"


def as_blog(version: int) -> Callable[[Path], None]:
    """The README's steps on a copy of the source tree, for a repository as its authors wrote
    it: copied into the slot as it is (with the developer's .env beside it, and its own pinned
    requirements.txt), then declared and locked."""
    def change(source: Path) -> None:
        shutil.rmtree(source / "src/flaskapp")
        blog(source / "src", version)
        (source / "src/.env").write_text(DEVELOPERS_ENV)
        declare(source, "app", "")  # its .flaskenv names it: FLASK_APP=microblog.py
        declare(source, "install", "db upgrade  # Flask-Migrate, from its migrations/")
        declare(source, "upgrade", "db upgrade")
        declare(source, "build", "pybabel compile -d app/translations")
        lock(source)
    return change


# Jobqueue's scheduled jobs, as its developer declares them: one every 3 s that takes 5 (so
# that it outlasts its interval), a daily one, and one that fails.
JOBQUEUE_JOBS = ("tick (*:*:0/3): flask tick --seconds 5\n"
                 "    nightly (daily): flask tick --job nightly\n"
                 "    report (daily): flask fail")


def as_jobqueue(version: int) -> Callable[[Path], None]:
    """A Procfile app (web, worker, release) as its authors wrote it, in the slot as it is, with
    its loose requirements.txt (flask, rq); its jobs declared; locked."""
    def change(source: Path) -> None:
        shutil.rmtree(source / "src/flaskapp")
        jobqueue(source / "src", version)
        declare(source, "app", "")  # src/wsgi.py, as `flask` finds it
        declare(source, "jobs", JOBQUEUE_JOBS)
        declare(source, "stop_timeout", "30")
        lock(source)
    return change
