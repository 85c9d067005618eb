"""Finding, creating and configuring the app in the slot."""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask
from flask.cli import NoAppException, locate_app

from . import flaskenv
from .built import DECLARATIONS, app_tree
from .health import install_healthz

ENV_PREFIX = "FLASKAPP"


class AppNotFound(RuntimeError):
    pass


def app_spec() -> str:
    if not DECLARATIONS.is_file():
        raise AppNotFound(f"no app is named: {DECLARATIONS} is missing (the build writes it from "
                          "setup.cfg's [flaskapp] app)")
    return json.loads(DECLARATIONS.read_text())["app"]


def create(spec: str) -> Flask:
    """The Flask app `spec` names, found as `flask --app` finds it: an app object, a factory
    called with no arguments (or with the arguments written in the spec), or, for a module
    alone, its `app`, `application`, or `create_app()`."""
    module_name, _, app_name = spec.strip().partition(":")
    try:
        return locate_app(module_name.strip(), app_name.strip() or None)
    except NoAppException as error:
        raise AppNotFound(str(error)) from None


def configure(app: Flask) -> None:
    """The platform's configuration, over the app's own defaults."""
    key_file = os.environ.get(f"{ENV_PREFIX}_SECRET_KEY_FILE")
    if key_file:
        app.config["SECRET_KEY"] = Path(key_file).read_text().strip()
    # FLASKAPP_FOO=bar becomes app.config["FOO"] (values parsed as JSON where they are JSON).
    app.config.from_prefixed_env(ENV_PREFIX)
    app.config.pop("SECRET_KEY_FILE", None)


def load_app(spec: str | None = None) -> Flask:
    # The app's .flaskenv first: its module may read the environment when imported.
    flaskenv.apply(app_tree() / ".flaskenv")
    app = create(spec or app_spec())
    configure(app)
    install_healthz(app)
    return app
