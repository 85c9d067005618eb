"""GET /healthz for load balancers and operators, and the hook through which an app adds
its own checks (a database that answers, a queue that drains)."""

from __future__ import annotations

from importlib.resources import files

from flask import Flask, Response, current_app, jsonify

# app.extensions["health_checks"]: {name: check}. An app may fill it without importing the
# platform, so that it runs unchanged outside the package too.
CHECKS = "health_checks"


def package_version() -> str:
    """The Debian package version the build wrote next to this module ("unknown" elsewhere)."""
    try:
        return files(__package__).joinpath("DEB_VERSION").read_text().strip()
    except FileNotFoundError:
        return "unknown"


# Read once, when the worker loads the app: while dpkg unpacks a new version (or after its
# configure failed), a worker of the old code reports the old version.
VERSION = package_version()


def healthz() -> tuple[Response, int]:
    failed = {}
    for name, check in current_app.extensions.get(CHECKS, {}).items():
        try:
            if check() is False:
                failed[name] = "failed"
        except Exception as error:  # a check's failure is the answer, not a 500
            failed[name] = f"{type(error).__name__}: {error}"
    body = {"status": "failing" if failed else "ok", "version": VERSION}
    if failed:
        body["failed"] = failed
    return jsonify(body), 503 if failed else 200


def install_healthz(app: Flask) -> None:
    if "flaskapp_platform_healthz" not in app.view_functions:
        app.add_url_rule("/healthz", "flaskapp_platform_healthz", healthz, methods=["GET"])
