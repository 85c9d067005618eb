"""setup.cfg's [flaskapp] section, the app's declarations, read as a user writes them, and
the app's tree as packaging/build-app puts it in the venv."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ..conftest import REPO, load_script

build_app = load_script(REPO / "packaging/build-app")
# What an app with no Procfile and no processes or jobs declares beside its commands.
NO_PROCESSES = {"release": [], "processes": {}, "jobs": {}, "stop_timeout": 60, "backup": [], "restore": [],
                "requirements": []}


def declared(tmp_path: Path, section: str, flaskenv: str | None = None, files: tuple[str, ...] = ()) -> dict:
    (tmp_path / "setup.cfg").write_text(f"[flaskapp]\n{section}")
    slot = tmp_path / "src"
    slot.mkdir(exist_ok=True)
    if flaskenv is not None:
        (slot / ".flaskenv").write_text(flaskenv)
    for name in files:
        (slot / name).parent.mkdir(parents=True, exist_ok=True)
        (slot / name).write_text("")
    return build_app.declarations(tmp_path / "setup.cfg", slot)


@pytest.mark.skipif(not (REPO / "src/flaskapp").is_dir(), reason="the hello world is not in the slot")
def test_this_trees_setup_cfg_names_the_hello_world() -> None:
    assert build_app.declarations() == {"app": "flaskapp:create_app", "install": [], "upgrade": [],
                                        "build": [], **NO_PROCESSES}


def test_a_trailing_comment_is_a_comment_and_each_line_a_command(tmp_path: Path) -> None:
    # The README's step 2, pasted as printed.
    found = declared(tmp_path, "app = taskboard:create_app   # its factory\n"
                               "install = init-db            # its own Flask CLI commands\n"
                               "    seed --demo\n"
                               "upgrade = db upgrade  # Flask-Migrate\n")
    assert found == {"app": "taskboard:create_app", "install": ["init-db", "seed --demo"],
                     "upgrade": ["db upgrade"], "build": [], **NO_PROCESSES}


def test_an_unknown_key_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(build_app.DeclarationError, match=r"unknown key instal \(known: app: .*install: "):
        declared(tmp_path, "app = x:app\ninstal = init-db\n")


@pytest.mark.parametrize(("flaskenv", "app"), [
    ("FLASK_APP=microblog.py\n", "microblog"),
    ("# its development settings\nexport FLASK_APP='app/main.py:make()'\nFLASK_DEBUG=1\n", "app.main:make()"),
    ('FLASK_APP="taskboard:create_app"\n', "taskboard:create_app"),
])
def test_with_no_app_declared_flaskenvs_flask_app_names_it(tmp_path: Path, flaskenv: str, app: str) -> None:
    assert declared(tmp_path, "install =\n", flaskenv)["app"] == app


def test_with_neither_a_wsgi_py_or_app_py_as_flask_finds_them_and_else_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    assert declared(tmp_path / "one", "", files=("wsgi.py",))["app"] == "wsgi"
    (tmp_path / "none").mkdir()
    with pytest.raises(build_app.DeclarationError, match=r"needs `app = module:name`.*FLASK_APP"):
        declared(tmp_path / "none", "")


def test_the_tree_ships_as_it_is_but_a_developers_own_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slot = tmp_path / "src"
    for name in ("config.py", "microblog.py", "app/__init__.py", "migrations/env.py", ".flaskenv",
                 ".env", ".env.local", "instance/app.db", ".git/HEAD", "app/__pycache__/x.pyc",
                 "venv/bin/python"):
        (slot / name).parent.mkdir(parents=True, exist_ok=True)
        (slot / name).write_text(name)
    (tmp_path / "setup.cfg").write_text("[flaskapp]\napp = microblog:app\nbuild = echo built > app/BUILT\n")
    monkeypatch.setattr(build_app, "SLOT", slot)
    monkeypatch.setattr(build_app, "SETUP_CFG", tmp_path / "setup.cfg")
    monkeypatch.setattr(build_app, "build_environment", lambda venv: dict(os.environ))
    build_app.prepare(tmp_path / "tree")
    shipped = sorted(str(path.relative_to(tmp_path / "tree")) for path in (tmp_path / "tree").rglob("*")
                     if path.is_file())
    assert shipped == [".flaskenv", "app/BUILT", "app/__init__.py", "config.py", "microblog.py",
                       "migrations/env.py"]

    package = tmp_path / "package"
    venv = package / "opt/venvs/flaskapp"
    (venv / "lib/python3.11/site-packages/flaskapp_platform").mkdir(parents=True)
    build_app.install(tmp_path / "tree", package)
    site = venv / "lib/python3.11/site-packages"
    assert (site / "flaskapp-src.pth").read_text() == (
        "import sys; sys.path.insert(0, '/opt/venvs/flaskapp/src')\n")
    assert json.loads((site / "flaskapp_platform/declarations.json").read_text()) == {
        "app": "microblog:app", "install": [], "upgrade": [],
        **{key: value for key, value in NO_PROCESSES.items() if key != "requirements"}}  # (build time's)
    assert json.loads((package / "usr/lib/flaskapp/processes.json").read_text()) == {
        "processes": {}, "jobs": {}, "stop_timeout": 60}
    assert (venv / "src/app/BUILT").read_text() == "built\n"


def test_a_failing_build_command_fails_the_build_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "setup.cfg").write_text("[flaskapp]\napp = x:app\nbuild = pybabel compile -d nowhere\n")
    monkeypatch.setattr(build_app, "SLOT", tmp_path / "src")
    monkeypatch.setattr(build_app, "SETUP_CFG", tmp_path / "setup.cfg")
    monkeypatch.setattr(build_app, "build_environment", lambda venv: {"PATH": "/usr/bin:/bin"})
    with pytest.raises(build_app.DeclarationError, match=r"`pybabel compile -d nowhere` .* failed"):
        build_app.prepare(tmp_path / "tree")


def test_the_readmes_step_2_pasted_as_printed(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    step = readme[readme.index("2. Declare it in `setup.cfg`"):readme.index("3. Lock its requirements")]
    block = "\n".join(line[7:] for line in step.splitlines() if line.startswith("       "))
    (tmp_path / "setup.cfg").write_text(block + "\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src/.flaskenv").write_text("FLASK_APP=microblog.py\n")
    assert build_app.declarations(tmp_path / "setup.cfg", tmp_path / "src") == {
        "app": "microblog", "install": ["db upgrade"], "upgrade": ["db upgrade"],
        "build": ["pybabel compile -d app/translations"], **NO_PROCESSES}


def test_an_app_with_its_own_project_is_installed_by_it_from_a_copy_of_its_tree(tmp_path: Path) -> None:
    tree = tmp_path / "app"
    tree.mkdir()
    assert build_app.project_option(tree) == "--skip-install"
    (tree / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    option = build_app.project_option(tree)
    assert option == f"--sourcedirectory={tmp_path / 'app-project'}"
    # pip's build writes its build/ and egg-info there, not into the tree that ships.
    assert (tmp_path / "app-project/pyproject.toml").is_file()


MICROBLOG_PROCFILE = """# Heroku's
web: flask db upgrade; flask translate compile; gunicorn microblog:app
worker: rq worker microblog-tasks
release: flask db upgrade
"""


def test_the_apps_procfile_gives_its_worker_types_and_release_and_its_web_line_is_the_platforms(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/Procfile").write_text(MICROBLOG_PROCFILE)
    found = declared(tmp_path, "app = microblog:app\n")
    assert found["processes"] == {"worker": {"command": "rq worker microblog-tasks", "count": 1}}
    assert found["release"] == ["flask db upgrade"]
    assert capsys.readouterr().err == ""  # said once, at the build's prepare (warn=True)
    build_app.declarations(tmp_path / "setup.cfg", tmp_path / "src", warn=True)
    said = capsys.readouterr().err
    assert "(`web: flask db upgrade; flask translate compile; gunicorn microblog:app`) is not run" \
        in said
    assert "release:" in said and "[flaskapp] build" in said


def test_a_web_line_that_only_starts_a_server_is_no_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/Procfile").write_text("web: gunicorn -w 4 microblog:app\n")
    (tmp_path / "setup.cfg").write_text("[flaskapp]\napp = m:app\n")
    assert build_app.declarations(tmp_path / "setup.cfg", tmp_path / "src", warn=True)["processes"] == {}
    assert capsys.readouterr().err == ""


def test_setup_cfg_adds_and_replaces_procfile_types_scales_them_and_schedules_jobs(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/Procfile").write_text(MICROBLOG_PROCFILE)
    found = declared(tmp_path, "app = microblog:app\n"
                               "processes = worker: rq worker --with-scheduler microblog-tasks  # ours\n"
                               "    mailer: flask mail-loop\n"
                               "scale = worker=3, mailer=0\n"
                               "jobs = digest (daily): flask send-digest\n"
                               "    purge (Mon..Fri *-*-* 03:00): flask purge --days 30\n"
                               "stop_timeout = 120\n")
    assert found["processes"] == {
        "worker": {"command": "rq worker --with-scheduler microblog-tasks", "count": 3},
        "mailer": {"command": "flask mail-loop", "count": 0}}
    assert found["jobs"] == {
        "digest": {"schedule": "daily", "command": "flask send-digest"},
        "purge": {"schedule": "Mon..Fri *-*-* 03:00", "command": "flask purge --days 30"}}
    assert found["stop_timeout"] == 120


@pytest.mark.parametrize(("section", "procfile", "error"), [
    ("jobs = digest daily: flask send-digest\n", "", r"jobs: not `name \(schedule\): command`"),
    ("jobs = digest (every day): flask send-digest\n", "",
     r"digest's schedule 'every day' is not a systemd calendar"),
    ("scale = wroker=2\n", "worker: rq worker\n", r"scale: wroker is no process type \(they are: worker\)"),
    ("scale = worker:2\n", "worker: rq worker\n", r"scale: not `name=count`"),
    ("stop_timeout = soon\n", "", r"stop_timeout: a number of seconds"),
    ("", "worker rq worker\n", r"src/Procfile, line 1: not `type: command`"),
    ("jobs = worker (daily): flask x\n", "worker: rq worker\n", r"worker is a process type too"),
    ("backup = pg_dump x\n", "", r"backup and restore go together"),
    ("backup = pg_dump x\n  pg_dump y\nrestore = psql x\n", "", r"backup: one command"),
])
def test_a_declaration_that_means_nothing_fails_the_build_naming_it(
        tmp_path: Path, section: str, procfile: str, error: str) -> None:
    if not shutil.which("systemd-analyze") and "calendar" in error:
        pytest.skip("no systemd-analyze here to check a schedule with")
    (tmp_path / "src").mkdir()
    (tmp_path / "src/Procfile").write_text(procfile)
    with pytest.raises(build_app.DeclarationError, match=error):
        declared(tmp_path, "app = m:app\n" + section)


def test_the_apps_requirements_are_its_requirements_txt_or_the_files_it_names(tmp_path: Path) -> None:
    assert declared(tmp_path, "app = wsgi", files=("wsgi.py", "requirements.txt"))["requirements"] == [
        "requirements.txt"]
    named = declared(tmp_path, "app = wsgi\nrequirements = requirements/base.txt\n    requirements/prod.txt",
                     files=("wsgi.py", "requirements.txt", "requirements/base.txt", "requirements/prod.txt"))
    assert named["requirements"] == ["requirements/base.txt", "requirements/prod.txt"]
    with pytest.raises(build_app.DeclarationError, match=r"requirements: no file src/requirements/dev.txt"):
        declared(tmp_path, "app = wsgi\nrequirements = requirements/dev.txt", files=("wsgi.py",))
