"""Loads the app once before the service (re)starts, so that a broken app fails the install
(with its traceback) instead of the first visitor. It runs as the service would, as its user,
with its environment file, secret key and state directory; not inside its sandbox, so it can
only pass an app that the service would fail on for the sandbox's sake, never the reverse."""

from __future__ import annotations

import subprocess

VENV = "/opt/venvs/flaskapp"
CHECK = [f"{VENV}/bin/gunicorn", "--check-config", "--config", "/etc/flaskapp/gunicorn.conf.py",
         "flaskapp_platform.wsgi:app"]
AS_THE_SERVICE = [
    "User=flaskapp", "Group=flaskapp", "UMask=0077",
    "EnvironmentFile=-/etc/flaskapp/flaskapp.env",
    "Environment=FLASKAPP_SECRET_KEY_FILE=/etc/flaskapp/secret_key",
    "StateDirectory=flaskapp/app", "StateDirectoryMode=0750",
    "WorkingDirectory=/",
]


def check_app() -> subprocess.CompletedProcess:
    properties = [f"--property={setting}" for setting in AS_THE_SERVICE]
    return subprocess.run(
        ["systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--service-type=exec",
         "--unit=flaskapp-app-check", *properties, *CHECK],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )
