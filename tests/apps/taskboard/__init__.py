"""Taskboard: a team's board of tasks, behind a login.

A realistic app for flaskapp's tests, written as any Flask app is (an application factory,
blueprints, templates, a static folder, SQLite in the instance folder made by its own CLI
command, sessions), with nothing in it about the package that deploys it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

__version__ = "1"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY="dev",
        DATABASE=os.path.join(app.instance_path, "taskboard.sqlite"),
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)

    from . import auth, board, db

    db.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(board.bp)

    @app.context_processor
    def version() -> dict[str, str]:
        return {"version": __version__}

    return app
