from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ..conftest import REPO


@pytest.fixture
def app() -> Flask:
    """The hello world in the slot (src/flaskapp): its tests skip once your app replaced it."""
    if not (REPO / "src/flaskapp").is_dir():
        pytest.skip("the hello world is not in the slot (src/flaskapp)")
    from flaskapp import create_app
    return create_app({"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
