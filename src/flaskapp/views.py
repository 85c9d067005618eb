"""The routes: the tutorial's hello world."""

from __future__ import annotations

from flask import Blueprint, Response

bp = Blueprint("flaskapp", __name__)


@bp.get("/")
def hello() -> Response:
    # The tutorial's contract, byte for byte: a text body, no trailing newline.
    return Response("Hello World!", mimetype="text/plain")
