"""Prints what the platform needs to know of the app, as JSON: where its static files are
and under which URL path, so that nginx serves them (flaskapp-site runs it at configure)."""

import json

from .loader import load_app

app = load_app()
print(json.dumps({
    "static_url_path": app.static_url_path if app.has_static_folder else None,
    "static_folder": app.static_folder if app.has_static_folder else None,
}))
