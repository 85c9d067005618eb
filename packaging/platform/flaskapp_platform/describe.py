"""Prints what the platform needs to know of the app, as JSON: where its static files are
and under which URL path, so that nginx serves them (flaskapp-site runs it at configure)."""

import json
import os

from .loader import load_app

app = load_app()
# Flask names a static folder for every app (has_static_folder only says it is named): one
# that is not there is not served.
served = app.static_folder is not None and os.path.isdir(app.static_folder)
print(json.dumps({
    "static_url_path": app.static_url_path if served else None,
    "static_folder": app.static_folder if served else None,
}))
