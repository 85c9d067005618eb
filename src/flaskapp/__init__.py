"""flaskapp: the hello-world Flask app that the Debian package deploys.

The slot (src/) is for your own application's repository, as it is. The packaging relies only
on the app being named in setup.cfg's [flaskapp] section; the platform around it
(packaging/platform) gives it SECRET_KEY, its settings and /healthz.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: defaults, then test_config."""
    app = Flask(__name__)
    if test_config is not None:
        app.config.from_mapping(test_config)

    from flaskapp import views

    app.register_blueprint(views.bp)
    return app
