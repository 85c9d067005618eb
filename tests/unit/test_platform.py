"""What the platform gives any app in the slot: SECRET_KEY, FLASKAPP_* configuration and
/healthz, with the app named in setup.cfg (here the hello world in src/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flaskapp_platform import load_app, loader
from flaskapp_platform.loader import AppNotFound, app_spec

from ..conftest import REPO, load_script

# Its app is the hello world: the loader's tests go with it once your app replaced it.
pytestmark = pytest.mark.skipif(not (REPO / "src/flaskapp").is_dir(),
                                reason="the hello world is not in the slot")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The platform as the build puts it in the venv: with the declarations of setup.cfg."""
    root = tmp_path_factory.mktemp("platform")
    shutil.copytree(REPO / "packaging/platform/flaskapp_platform", root / "flaskapp_platform")
    declared = load_script(REPO / "packaging/build-app").declarations()
    (root / "flaskapp_platform/declarations.json").write_text(json.dumps(declared))
    return root


@pytest.fixture(autouse=True)
def no_platform_environment(monkeypatch: pytest.MonkeyPatch, platform: Path) -> None:
    monkeypatch.delenv("FLASKAPP_SECRET_KEY_FILE", raising=False)
    monkeypatch.setattr(loader, "DECLARATIONS", platform / "flaskapp_platform/declarations.json")


def test_the_app_is_the_one_setup_cfg_names() -> None:
    assert app_spec() == "flaskapp:create_app"
    assert load_app().test_client().get("/").data == b"Hello World!"


@pytest.mark.parametrize("spec", ["flaskapp:create_app", "flaskapp:create_app()", " flaskapp : create_app ",
                                  "flaskapp"])  # a module alone: its create_app, as `flask --app` finds it
def test_a_factory_or_flasks_spelling_of_a_call(spec: str) -> None:
    assert isinstance(load_app(spec), Flask)


def test_an_app_object_is_served_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    import flaskapp
    ready = flaskapp.create_app()
    monkeypatch.setattr(flaskapp, "ready", ready, raising=False)
    assert load_app("flaskapp:ready") is ready


@pytest.mark.parametrize("spec", ["flaskapp:nothing", "json:dumps", "no_such_module:app", "json"])
def test_a_spec_that_is_no_flask_app_is_refused(spec: str) -> None:
    with pytest.raises(AppNotFound):
        load_app(spec)


def test_the_apps_flaskenv_is_applied_before_its_module_is_imported_and_the_environment_wins(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/.flaskenv").write_text("GREETING_FROM=flaskenv\nKEPT=flaskenv\nFLASK_DEBUG=1\n")
    (tmp_path / "src/envapp.py").write_text(
        "import os\nfrom flask import Flask\napp = Flask(__name__)\n"
        "app.config.update(GREETING_FROM=os.environ['GREETING_FROM'], KEPT=os.environ['KEPT'])\n")
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    for name in ("GREETING_FROM", "FLASK_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEPT", "environment")
    app = load_app("envapp:app")
    assert (app.config["GREETING_FROM"], app.config["KEPT"]) == ("flaskenv", "environment")
    assert not app.debug and "FLASK_DEBUG" not in os.environ  # a development server setting


def test_healthz_answers_json_with_status_and_version() -> None:
    response = load_app().test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": "unknown"}  # no DEB_VERSION here


def test_a_failing_health_check_of_the_app_makes_healthz_503() -> None:
    app = load_app()
    app.extensions["health_checks"] = {"database": lambda: 1 / 0, "cache": lambda: True}
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["failed"] == {"database": "ZeroDivisionError: division by zero"}


def test_config_comes_from_flaskapp_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASKAPP_GREETING", "hi")
    monkeypatch.setenv("FLASKAPP_MAX_CONTENT_LENGTH", "1024")
    app = load_app()
    assert app.config["GREETING"] == "hi"
    assert app.config["MAX_CONTENT_LENGTH"] == 1024


def test_secret_key_comes_from_the_key_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("s3cret\n")
    monkeypatch.setenv("FLASKAPP_SECRET_KEY_FILE", str(tmp_path / "secret_key"))
    app = load_app()
    assert app.secret_key == "s3cret"
    assert "SECRET_KEY_FILE" not in app.config


def test_no_secret_key_without_key_file() -> None:
    assert load_app().secret_key is None


def describe(platform: Path, *gunicorn_args: str) -> subprocess.CompletedProcess:
    """flaskapp_platform.describe run as flaskapp-site runs it, with gunicorn's arguments."""
    return subprocess.run(
        [sys.executable, "-m", "flaskapp_platform.describe", *gunicorn_args],
        capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": f"{platform}:{REPO / 'src'}"})


def test_an_app_without_a_static_folder_describes_none(tmp_path: Path, platform: Path) -> None:
    # Flask names <package>/static for every app; the hello world has none on disk, so nginx
    # is given no location for it.
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("workers = 2\n")
    described = describe(platform, "--config", str(conf), "flaskapp_platform.wsgi:app")
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout) == {"static_url_path": None, "static_folder": None}


def test_a_broken_gunicorn_configuration_fails_the_description_with_gunicorn_error(
        tmp_path: Path, platform: Path) -> None:
    # As `gunicorn --check-config` would: the install stops before the service restarts.
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("workers = 'many'\n")
    described = describe(platform, "--config", str(conf), "flaskapp_platform.wsgi:app")
    assert described.returncode == 1
    assert "Invalid value for workers: many" in described.stderr
    assert described.stdout == ""
