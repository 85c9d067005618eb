"""The platform around the app in the slot: what every app gets from the package without a
line of its own. gunicorn serves ``flaskapp_platform.wsgi:app``, which loads the app named in
setup.cfg's [flaskapp] section (``app``; or its .flaskenv's FLASK_APP), with its .flaskenv
applied first, and gives it:

- ``SECRET_KEY``, read from the file FLASKAPP_SECRET_KEY_FILE names (/etc/flaskapp/secret_key);
- every ``FLASKAPP_<NAME>`` of the environment (/etc/flaskapp/flaskapp.env) as
  ``app.config["<NAME>"]``;
- ``GET /healthz``: ``{"status": "ok", "version": <the installed Debian package version>}``,
  503 when a check the app put in ``app.extensions["health_checks"]`` fails.
"""

from .loader import load_app

__all__ = ["load_app"]
