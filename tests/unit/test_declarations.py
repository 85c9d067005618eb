"""setup.cfg's [flaskapp] section, the app's declarations, read as a user writes them, and
the app's tree as packaging/build-app puts it in the venv."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ..conftest import REPO, load_script

build_app = load_script(REPO / "packaging/build-app")


def declared(tmp_path: Path, section: str, flaskenv: str | None = None, files: tuple[str, ...] = ()) -> dict:
    (tmp_path / "setup.cfg").write_text(f"[flaskapp]\n{section}")
    slot = tmp_path / "src"
    slot.mkdir(exist_ok=True)
    if flaskenv is not None:
        (slot / ".flaskenv").write_text(flaskenv)
    for name in files:
        (slot / name).write_text("")
    return build_app.declarations(tmp_path / "setup.cfg", slot)


def test_this_trees_setup_cfg_names_the_hello_world() -> None:
    assert build_app.declarations() == {"app": "flaskapp:create_app", "install": [], "upgrade": [],
                                        "build": []}


def test_a_trailing_comment_is_a_comment_and_each_line_a_command(tmp_path: Path) -> None:
    # The README's step 2, pasted as printed.
    found = declared(tmp_path, "app = taskboard:create_app   # its factory\n"
                               "install = init-db            # its own Flask CLI commands\n"
                               "    seed --demo\n"
                               "upgrade = db upgrade  # Flask-Migrate\n")
    assert found == {"app": "taskboard:create_app", "install": ["init-db", "seed --demo"],
                     "upgrade": ["db upgrade"], "build": []}


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

    venv = tmp_path / "venv"
    (venv / "lib/python3.11/site-packages/flaskapp_platform").mkdir(parents=True)
    build_app.install(tmp_path / "tree", venv)
    site = venv / "lib/python3.11/site-packages"
    assert (site / "flaskapp-src.pth").read_text() == (
        "import sys; sys.path.insert(0, '/opt/venvs/flaskapp/src')\n")
    assert json.loads((site / "flaskapp_platform/declarations.json").read_text()) == {
        "app": "microblog:app", "install": [], "upgrade": []}
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
    step = readme[readme.index("2. Declare it in `setup.cfg`"):readme.index("3. Add its requirements")]
    block = "\n".join(line[7:] for line in step.splitlines() if line.startswith("       "))
    (tmp_path / "setup.cfg").write_text(block + "\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src/.flaskenv").write_text("FLASK_APP=microblog.py\n")
    assert build_app.declarations(tmp_path / "setup.cfg", tmp_path / "src") == {
        "app": "microblog", "install": ["db upgrade"], "upgrade": ["db upgrade"],
        "build": ["pybabel compile -d app/translations"]}


def test_an_app_with_its_own_project_is_installed_by_it_from_a_copy_of_its_tree(tmp_path: Path) -> None:
    tree = tmp_path / "app"
    tree.mkdir()
    assert build_app.project_option(tree) == "--skip-install"
    (tree / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    option = build_app.project_option(tree)
    assert option == f"--sourcedirectory={tmp_path / 'app-project'}"
    # pip's build writes its build/ and egg-info there, not into the tree that ships.
    assert (tmp_path / "app-project/pyproject.toml").is_file()
