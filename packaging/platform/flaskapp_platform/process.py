"""Runs one of the app's declared commands beside the web: a process type of its Procfile (the
ExecStart= of flaskapp-process@TYPE.N.service), a scheduled job (flaskapp-job@NAME.service),
its release command (postinst, at every install and upgrade), or its backup and restore
commands (flaskapp-site backup and restore: a database server's dump, on stdout and stdin).

    python -m flaskapp_platform.process process worker.1
    python -m flaskapp_platform.process job digest
    python -m flaskapp_platform.process release
    python -m flaskapp_platform.process backup

The command is this venv's declaration (packaging/build-app wrote it), so a process that the
upgrade pin keeps on the previous version runs that version's command. It runs as a Procfile
line runs on Heroku: in the app's tree, with the venv's tools first on PATH and `flask` finding
the app with the platform's configuration (FLASK_APP); a line with shell syntax (`;`, `&&`,
`$VAR`, quotes) through /bin/sh -c, any other exec'd directly.

systemd stops a worker with SIGTERM to its main process alone (KillMode=mixed), which rq and
Celery take as "finish the job in hand, then exit": so the command must be that process. A
simple command (`rq worker --url $REDIS_URL tasks`) is: exec'd, by the shell if it needs one.
A list (`a && b`) runs in a shell that stays the main process: its last command should be
`exec b` (README, "Your own app").
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

from . import flaskenv
from .built import DECLARATIONS, app_tree

# What `flask` (and /usr/bin/flaskapp) loads: the app with the platform's configuration.
FLASK_APP = "flaskapp_platform.wsgi:app"
SHELL_SYNTAX = re.compile(r"[;&|<>()$`\\*?~\[\]{}'\"#=\n]")
# What makes a line more than one simple command, or starts it with an assignment.
NOT_ONE_COMMAND = re.compile(r"[;&|<>()`\n]|\$\(|^\s*[A-Za-z_][A-Za-z0-9_]*=")


def command(kind: str, name: str, declared: dict) -> str:
    if kind == "process":
        # The instance: TYPE.N (Heroku's dyno names, worker.1).
        kind_name = name.rsplit(".", 1)[0]
        if kind_name not in declared.get("processes", {}):
            raise LookupError(f"no process type {kind_name!r} is declared (Procfile, setup.cfg "
                              f"[flaskapp] processes): {', '.join(declared.get('processes', {})) or 'none'}")
        return declared["processes"][kind_name]["command"]
    if kind == "job":
        if name not in declared.get("jobs", {}):
            raise LookupError(f"no job {name!r} is declared (setup.cfg [flaskapp] jobs): "
                              f"{', '.join(declared.get('jobs', {})) or 'none'}")
        return declared["jobs"][name]["command"]
    raise LookupError(f"unknown kind {kind!r}")


def argv(line: str) -> list[str]:
    if not SHELL_SYNTAX.search(line):
        return shlex.split(line)
    if NOT_ONE_COMMAND.search(line):
        return ["/bin/sh", "-c", line]
    return ["/bin/sh", "-c", f"exec {line}"]


def environment(base: dict[str, str]) -> dict[str, str]:
    venv_bin = str(Path(sys.prefix) / "bin")
    return {**base, "FLASK_APP": FLASK_APP, "PATH": f"{venv_bin}:{base.get('PATH', os.defpath)}"}


def main(args: list[str]) -> int:
    if os.geteuid() == 0:
        # Its user and sandbox are flaskapp.service's, put in by the generator's drop-in: none
        # there (the generator did not run) is no reason to run the app's code as root.
        print("flaskapp: refusing to run the app's process as root: its unit has none of "
              "flaskapp.service's settings (systemctl daemon-reload; journalctl -b | grep flaskapp)",
              file=sys.stderr)
        return 1
    declared = json.loads(DECLARATIONS.read_text())
    if args in (["release"], ["backup"], ["restore"]):
        lines = declared.get(args[0], [])
    elif len(args) == 2:
        try:
            lines = [command(args[0], args[1], declared)]
        except LookupError as error:
            print(f"flaskapp: {error}", file=sys.stderr)
            return 1
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if not lines:
        return 0
    # (In the app's tree already: the unit's WorkingDirectory=, flaskapp.service's.)
    flaskenv.apply(app_tree() / ".flaskenv")
    run = argv(lines[0])
    os.execvpe(run[0], run, environment(dict(os.environ)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
