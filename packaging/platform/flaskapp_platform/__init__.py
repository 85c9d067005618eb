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


__all__ = ["load_app"]


def __getattr__(name: str):
    # Imported when asked for: `python -m flaskapp_platform.process` (a job, a worker) runs
    # its command without importing Flask (built.py says why).
    if name == "load_app":
        from .loader import load_app
        return load_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
