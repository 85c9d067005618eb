"""What the platform gives any app in the slot: SECRET_KEY, FLASKAPP_* configuration and
/healthz, with the app named in setup.cfg."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flaskapp_platform import load_app
from flaskapp_platform.loader import AppNotFound, app_spec

from ..conftest import REPO


@pytest.fixture(autouse=True)
def no_platform_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLASKAPP_SECRET_KEY_FILE", raising=False)


def test_the_app_is_the_one_setup_cfg_names() -> None:
    # make test installs the checkout into .venv, so its entry points are there.
    assert app_spec() == "flaskapp:create_app"
    assert load_app().test_client().get("/").data == b"Hello World!"


@pytest.mark.parametrize("spec", ["flaskapp:create_app", "flaskapp:create_app()", " flaskapp : create_app "])
def test_a_factory_or_flasks_spelling_of_a_call(spec: str) -> None:
    assert isinstance(load_app(spec), Flask)


def test_an_app_object_is_served_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    import flaskapp
    ready = flaskapp.create_app()
    monkeypatch.setattr(flaskapp, "ready", ready, raising=False)
    assert load_app("flaskapp:ready") is ready


@pytest.mark.parametrize("spec", ["flaskapp", "flaskapp:create_app(1)", "json:dumps"])
def test_a_spec_that_is_no_flask_app_is_refused(spec: str) -> None:
    with pytest.raises((AppNotFound, TypeError)):
        load_app(spec)


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


def describe(*gunicorn_args: str) -> subprocess.CompletedProcess:
    """flaskapp_platform.describe run as flaskapp-site runs it, with gunicorn's arguments."""
    return subprocess.run(
        [sys.executable, "-m", "flaskapp_platform.describe", *gunicorn_args],
        capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "packaging/platform")})


def test_an_app_without_a_static_folder_describes_none(tmp_path: Path) -> None:
    # Flask names <package>/static for every app; the hello world has none on disk, so nginx
    # is given no location for it.
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("workers = 2\n")
    described = describe("--config", str(conf), "flaskapp_platform.wsgi:app")
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout) == {"static_url_path": None, "static_folder": None}


def test_a_broken_gunicorn_configuration_fails_the_description_with_gunicorn_error(tmp_path: Path) -> None:
    # As `gunicorn --check-config` would: the install stops before the service restarts.
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("workers = 'many'\n")
    described = describe("--config", str(conf), "flaskapp_platform.wsgi:app")
    assert described.returncode == 1
    assert "Invalid value for workers: many" in described.stderr
    assert described.stdout == ""
