"""The routes: the tutorial's hello world and a health check for operators and load balancers."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from flask import Blueprint, Response, jsonify

bp = Blueprint("flaskapp", __name__)


def installed_version() -> str:
    """The version of the installed flaskapp distribution ("unknown" when run from a bare checkout)."""
    try:
        return version("flaskapp")
    except PackageNotFoundError:
        return "unknown"


@bp.get("/")
def hello() -> Response:
    # The tutorial's contract, byte for byte: a text body, no trailing newline.
    return Response("Hello World!", mimetype="text/plain")


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok", version=installed_version())
