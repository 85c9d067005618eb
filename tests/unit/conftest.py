from __future__ import annotations

import sys

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flaskapp import create_app

from ..conftest import REPO


@pytest.fixture
def app() -> Flask:
    return create_app({"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# flaskapp-site's modules, as the package installs them in /usr/lib/flaskapp.
sys.path.insert(0, str(REPO / "packaging/site"))
