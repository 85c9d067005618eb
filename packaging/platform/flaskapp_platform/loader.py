"""Finding, creating and configuring the app in the slot."""

from __future__ import annotations

import os
import re
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path

from flask import Flask

from .health import install_healthz

#: setup.cfg: [options.entry_points] flaskapp.app = app = module:name, where name is the Flask
#: app or a factory that makes it with no arguments (create_app).
ENTRY_POINT_GROUP = "flaskapp.app"
ENV_PREFIX = "FLASKAPP"


class AppNotFound(RuntimeError):
    pass


def app_spec() -> str:
    """The app's "module:name" or "module:factory()" from the installed metadata."""
    found = entry_points(group=ENTRY_POINT_GROUP)
    if not found:
        raise AppNotFound(
            f"no app is named: setup.cfg needs [options.entry_points] {ENTRY_POINT_GROUP} = "
            "app = yourpackage:create_app"
        )
    return next(iter(found)).value


def create(spec: str) -> Flask:
    """The Flask app `spec` names: an app object, or a factory called with no arguments
    ("module:create_app" or, as Flask's --app spells it, "module:create_app()")."""
    match = re.fullmatch(r"\s*([\w.]+)\s*:\s*([\w.]+)\s*(?:\(\s*\))?\s*", spec)
    if not match:
        raise AppNotFound(f"{spec!r} is not module:name")
    module_name, attribute = match.groups()
    target = import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    app = target if isinstance(target, Flask) else target()
    if not isinstance(app, Flask):
        raise AppNotFound(f"{spec} gave {type(app).__name__}, not a Flask app")
    return app


def configure(app: Flask) -> None:
    """The platform's configuration, over the app's own defaults."""
    key_file = os.environ.get(f"{ENV_PREFIX}_SECRET_KEY_FILE")
    if key_file:
        app.config["SECRET_KEY"] = Path(key_file).read_text().strip()
    # FLASKAPP_FOO=bar becomes app.config["FOO"] (values parsed as JSON where they are JSON).
    app.config.from_prefixed_env(ENV_PREFIX)
    app.config.pop("SECRET_KEY_FILE", None)


def load_app(spec: str | None = None) -> Flask:
    app = create(spec or app_spec())
    configure(app)
    install_healthz(app)
    return app
