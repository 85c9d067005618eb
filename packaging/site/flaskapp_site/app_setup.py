"""What postinst does with the app before the new version serves, as the service would do it
(/usr/bin/flaskapp's way: its user, configuration, state directory and sandbox):

1. load it once, as gunicorn does (its configuration too), so that a broken app fails the
   install with its traceback instead of the first visitor, and learn where its static files
   are (for `flaskapp-site apply`), as far as app_boundary accepts what it says;
2. run the commands its developer declared in setup.cfg's [flaskapp] section: `install` on
   the first configure (create the schema), `upgrade` on every upgrade (migrate); then its
   Procfile's `release:` line, on both, as Heroku runs it on every deploy.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from . import app_boundary, nginx, processes
from .as_service import run_as_service

VENV = Path("/opt/venvs/flaskapp")
FLASK = [str(VENV / "bin/flask"), "--app", "flaskapp_platform.wsgi:app"]
# Loads the app with flaskapp.service's gunicorn arguments and describes it (its static files).
RELEASE = [str(VENV / "bin/python"), "-m", "flaskapp_platform.process", "release"]
DESCRIBE = [str(VENV / "bin/python"), "-m", "flaskapp_platform.describe",
            "--config", "/etc/flaskapp/gunicorn.conf.py", "flaskapp_platform.wsgi:app"]
FAILED = ("so the service was not (re)started: on an upgrade the running version keeps serving. "
          "Fix it, then run 'dpkg --configure -a' (or install a fixed package).")

# An app that writes next to its code (a log file, an SQLite database by default) in development.
READ_ONLY = ("the app wrote into its own tree, which is read-only once installed (/opt/venvs/flaskapp); "
             "point what it writes at its state directory, /var/lib/flaskapp/app, with its own setting "
             "in /etc/flaskapp/flaskapp.env (such as DATABASE_URL=sqlite:////var/lib/flaskapp/app/app.db, "
             "or LOG_TO_STDOUT=1 for an app that logs to files): README, \"Settings\"")

Say = Callable[[str], None]


def declared_commands(phase: str) -> list[str]:
    """The commands setup.cfg declares for `phase` (written into the venv by the build:
    packaging/build-app, the declarations' one parser)."""
    found = list(VENV.glob("lib/python3.*/site-packages/flaskapp_platform/declarations.json"))
    if not found:
        return []
    return json.loads(found[0].read_text()).get(phase, [])


def unit_is_current() -> bool:
    """Whether systemd has flaskapp.service loaded as it is on disk: on a first install, where
    it loads the new unit when first asked for it. (NeedDaemonReload compares modification
    times, and a downgrade's unit is older: an upgrade always reloads.)"""
    show = subprocess.run(["systemctl", "show", "flaskapp.service",
                           "--property=LoadState", "--property=NeedDaemonReload"],
                          capture_output=True, text=True)
    return show.returncode == 0 and set(show.stdout.split()) == {"LoadState=loaded", "NeedDaemonReload=no"}


def prepare(phase: str, say: Say, fail: Say) -> int:
    # The unit as this version ships it, for run_as_service (debhelper's reload comes later).
    if phase == "upgrade" or not unit_is_current():
        subprocess.run(["systemctl", "daemon-reload"], check=False)
    described = run_as_service(DESCRIBE, capture=True)
    # What the app printed on its way (warnings; a traceback), passed on.
    print(app_boundary.printable(described.stderr), end="", file=sys.stderr)
    if described.returncode != 0:
        print(app_boundary.printable(described.stdout), end="", file=sys.stderr)
        fail(f"the app cannot be loaded (see above), {FAILED}")
        if "Read-only file system" in described.stderr + described.stdout:
            fail(READ_ONLY)
        return 1
    try:
        description = app_boundary.description(described.stdout)
    except app_boundary.Refused as error:
        fail(f"{error}. Nothing was changed, {FAILED}")
        return 1
    stopped = processes.stop_for_migration(say)
    status = run_commands(phase, say, fail)
    if status != 0:
        processes.start(stopped)
        return status
    # For `flaskapp-site apply`, which writes nginx's part from it.
    record = nginx.Paths().app_description
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(app_boundary.as_json(description))
    return 0


def run_commands(phase: str, say: Say, fail: Say) -> int:
    for command in declared_commands(phase):
        say(f"running the app's {phase} command: flaskapp {command}")
        status = run_as_service([*FLASK, *shlex.split(command)], from_the_app=True).returncode
        if status != 0:
            fail(f"the app's {phase} command 'flaskapp {command}' failed (exit {status}, see above), "
                 + FAILED)
            return 1
    # At most one: the Procfile's release: line (packaging/build-app).
    for command in declared_commands("release")[:1]:
        say(f"running the app's release command: {command}")
        status = run_as_service(RELEASE, from_the_app=True).returncode
        if status != 0:
            fail(f"the app's release command '{command}' (its Procfile) failed (exit {status}, "
                 "see above), " + FAILED)
            return 1
    return 0
