"""The app's contract with its users and with the packaging (Flask test client, no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from flaskapp import create_app
from flaskapp.views import installed_version


def test_root_answers_hello_world(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.data == b"Hello World!"


def test_healthz_answers_json_with_status_and_version(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    assert response.get_json() == {"status": "ok", "version": installed_version()}


def test_installed_version_is_the_distribution_version() -> None:
    # make test installs the checkout into .venv, so the metadata is there.
    assert installed_version() != "unknown"


def test_unknown_path_is_404(client: FlaskClient) -> None:
    assert client.get("/nope").status_code == 404


def test_post_to_root_is_405(client: FlaskClient) -> None:
    assert client.post("/").status_code == 405


def test_config_comes_from_flaskapp_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASKAPP_GREETING", "hi")
    monkeypatch.setenv("FLASKAPP_MAX_CONTENT_LENGTH", "1024")
    app = create_app()
    assert app.config["GREETING"] == "hi"
    assert app.config["MAX_CONTENT_LENGTH"] == 1024


def test_secret_key_comes_from_the_key_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("s3cret\n")
    monkeypatch.setenv("FLASKAPP_SECRET_KEY_FILE", str(tmp_path / "secret_key"))
    assert create_app().secret_key == "s3cret"


def test_no_secret_key_without_key_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLASKAPP_SECRET_KEY_FILE", raising=False)
    assert create_app().secret_key is None
