"""The trust boundary: everything root takes from the app's side, parsed here and nowhere else.

Who may write what:
- root (dpkg, postinst, flaskapp-site) writes the venv (/opt/venvs/flaskapp, and the copy of
  the running version during an upgrade), /etc/flaskapp, the package's markers and nginx's
  part in /var/lib/flaskapp/nginx;
- the app's user (flaskapp: the service, its CLI, its setup and migration commands) writes
  only its state, /var/lib/flaskapp/app (the venv's `var` links there), and its own /tmp.

So the app's user can make the app say anything it likes, at any load: a config file in its
instance folder is code it runs. What root reads from it is limited to this module's inputs:
- the app's description, printed by flaskapp_platform.describe as the app's user at configure
  (where its static files are, for nginx): strict JSON; a static URL path that is a plain URL
  path; a static folder that is a directory inside the venv, reached without the `var` link.
  Anything else is refused with the app's setting named, and nothing changes;
- what the app's commands print, which root passes on to the admin's terminal with control
  characters taken out (no terminal escapes from the app);
- exit statuses.
Root never opens, follows or executes anything under the app's state directory: it only
names it (systemd's StateDirectory=, the venv's `var` link), and nginx follows no link in
the static folder (the site's `disable_symlinks`), only the one root made to it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

VENV = Path("/opt/venvs/flaskapp")
# The venv's link to the app's state (/var/lib/flaskapp/app): the app's user writes there.
STATE_LINK = "var"

# A plain URL path: what nginx may take as a location prefix. No whitespace, braces,
# semicolons, quotes, `$`, `#` or backslashes, which would end or extend nginx's directive.
URL_PATH = re.compile(r"/[A-Za-z0-9._~@+-]+(?:/[A-Za-z0-9._~@+-]+)*/?")
KEYS = {"static_url_path", "static_folder"}
# Control characters but newline and tab (terminal escapes: ESC, CSI, BEL, backspace, ...).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class Refused(ValueError):
    """What the app said of itself cannot be trusted: the message names the app's setting."""


@dataclass(frozen=True)
class Description:
    """What nginx serves of the app itself: its static folder under its static URL path
    (None: it has none that nginx serves, gunicorn answers everything)."""
    static_url_path: str | None = None
    static_folder: str | None = None


def printable(output: str) -> str:
    """The app's output as root passes it on to a terminal."""
    return CONTROL.sub("", output)


def url_path(value: object) -> str | None:
    """Flask's static_url_path, as a location prefix for nginx. "" and "/" (static files
    at the top of the site, Flask's choice for some apps) are left to gunicorn."""
    if value is None or value in ("", "/"):
        return None
    if not isinstance(value, str) or not URL_PATH.fullmatch(value) \
            or any(part in (".", "..") for part in value.split("/")):
        raise Refused(f"the app's static URL path (Flask's static_url_path) {value!r} is not a plain "
                      "URL path (letters, digits and . _ ~ @ + - between slashes)")
    return value


def static_folder(value: object, venv: Path = VENV) -> str | None:
    """Flask's static_folder, if nginx may serve it: a directory inside the installed venv,
    named without `.` or `..` and not through the venv's link to the app's state, which still
    is inside the venv once every link in it is resolved (the venv is root's: the links in it
    are the package's)."""
    if value is None:
        return None
    setting = f"the app's static folder (Flask's static_folder) {value!r}"
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise Refused(f"{setting} is not an absolute path")
    if any(part in (".", "..") for part in value.split("/")):
        raise Refused(f"{setting} is not a plain path (it has . or ..)")
    parts = PurePosixPath(value).parts
    inside = parts[len(venv.parts):]
    if parts[:len(venv.parts)] != venv.parts or not inside:
        raise Refused(f"{setting} is not inside {venv}: nginx serves only the package's files")
    if inside[0] == STATE_LINK:
        raise Refused(f"{setting} is in the app's writable state ({venv}/{STATE_LINK}): nginx "
                      "serves only the package's files")
    real_venv = os.path.realpath(venv)
    real = os.path.realpath(value)
    if not real.startswith(real_venv + "/"):
        raise Refused(f"{setting} leads out of {venv} (to {real}): nginx serves only the package's files")
    if not os.path.isdir(real):
        raise Refused(f"{setting} is not a directory")
    return value


def description(text: str, venv: Path = VENV) -> Description:
    """The app's description: the last line of what flaskapp_platform.describe printed (the
    app may print before it), a JSON object with exactly the keys it writes."""
    lines = text.strip().splitlines()
    try:
        found = json.loads(lines[-1]) if lines else None
    except ValueError:
        found = None
    if not isinstance(found, dict) or set(found) != KEYS:
        raise Refused("the app's description (flaskapp_platform.describe's last line) is not "
                      f"the JSON object of {' and '.join(sorted(KEYS))} it writes")
    folder = static_folder(found["static_folder"], venv)
    prefix = url_path(found["static_url_path"])
    if folder is None or prefix is None:
        return Description()
    return Description(static_url_path=prefix, static_folder=folder)


def as_json(described: Description) -> str:
    """A description as prepare-app records it (for `flaskapp-site apply`, which parses it here
    again: the record is root's, but one parser is one place to get right)."""
    return json.dumps({"static_url_path": described.static_url_path,
                       "static_folder": described.static_folder}) + "\n"


def snapshot_summary(text: str) -> dict:
    """What flaskapp_platform.snapshot's check or unpack printed of a backup's state (as the
    app's user): the last line, {"members": count, "databases": [relative names]}. Only
    shown to the admin (printable), never used as a path."""
    lines = text.strip().splitlines()
    try:
        found = json.loads(lines[-1]) if lines else None
    except ValueError:
        found = None
    if not isinstance(found, dict) or set(found) != {"members", "databases"} \
            or not isinstance(found["members"], int) or not isinstance(found["databases"], list) \
            or not all(isinstance(name, str) for name in found["databases"]):
        raise Refused("the check of the backup's state (flaskapp_platform.snapshot) did not print "
                      "the summary it writes")
    return {"members": found["members"], "databases": [printable(name) for name in found["databases"]]}
