"""flaskapp: the hello-world Flask app that the Debian package deploys.

This package is the slot for your own application: packaging depends only on
``flaskapp.wsgi:app`` being a WSGI callable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

#: Environment variables read at start-up, prefixed FLASKAPP_ (see /etc/flaskapp/flaskapp.env).
ENV_PREFIX = "FLASKAPP"


def read_secret_key() -> str | None:
    """Flask's SECRET_KEY, read from the file FLASKAPP_SECRET_KEY_FILE names (the service's
    unit points it at /etc/flaskapp/secret_key), so the key itself is never in the
    environment or the logs."""
    path = os.environ.get("FLASKAPP_SECRET_KEY_FILE")
    return Path(path).read_text().strip() if path else None


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: defaults, then FLASKAPP_* from the environment, then test_config."""
    app = Flask(__name__)
    app.config.from_mapping(SECRET_KEY=read_secret_key())
    # FLASKAPP_FOO=bar becomes app.config["FOO"] (values parsed as JSON where they are JSON).
    app.config.from_prefixed_env(ENV_PREFIX)
    if test_config is not None:
        app.config.from_mapping(test_config)

    from flaskapp import views

    app.register_blueprint(views.bp)
    return app
