"""Runs a command the way flaskapp.service runs gunicorn: as its user, with its environment
file, secret key, state directory and sandbox, drop-ins included (they are read from what
systemd made of the unit), so that whatever the command writes the service can read and
write, and a drop-in that gives the service network gives the command network too.

(The unit's system-call filter is left out: an interactive shell needs more than a web
server does.)"""

from __future__ import annotations

import os
import subprocess
import sys

UNIT = "flaskapp.service"
# What decides who the command runs as and what it sees, as `systemctl show` names them.
PROPERTIES = [
    "User", "Group", "UMask", "Environment", "EnvironmentFiles", "StateDirectory",
    "StateDirectoryMode", "PrivateNetwork", "RestrictAddressFamilies", "PrivateTmp",
    "PrivateDevices", "PrivateUsers", "ProtectSystem", "ProtectHome", "ProtectKernelTunables",
    "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
    "ProtectHostname", "NoNewPrivileges", "RestrictSUIDSGID", "RestrictNamespaces",
    "LockPersonality", "MemoryDenyWriteExecute", "RestrictRealtime", "ReadWritePaths",
    "ReadOnlyPaths", "InaccessiblePaths",
]


def unit_properties(show: str) -> list[str]:
    """`systemctl show` output → systemd-run --property values, empty ones left out."""
    properties = []
    for line in show.splitlines():
        name, _, value = line.partition("=")
        if not value or name not in PROPERTIES:
            continue
        if name == "EnvironmentFiles":
            # "/etc/flaskapp/flaskapp.env (ignore_errors=yes)"
            path, _, flags = value.partition(" ")
            properties.append(f"EnvironmentFile={'-' if 'ignore_errors=yes' in flags else ''}{path}")
        elif name == "RestrictAddressFamilies" and value.startswith("~"):
            continue  # a deny list: systemd-run cannot take it as shown; the allow list is the rule here
        else:
            properties.append(f"{name}={value}")
    return properties


def run_as_service(argv: list[str], capture: bool = False) -> subprocess.CompletedProcess:
    """Runs argv as the service would; its output is the caller's (or captured: stdout only)."""
    if os.geteuid() != 0:
        print("flaskapp: run it as root (sudo flaskapp …): it runs the app's command as the "
              "service's user, with the service's configuration", file=sys.stderr)
        return subprocess.CompletedProcess(argv, 1)
    show = subprocess.run(["systemctl", "show", UNIT, *(f"--property={p}" for p in PROPERTIES)],
                          capture_output=True, text=True)
    if show.returncode != 0:
        print(f"flaskapp: cannot read {UNIT}: {show.stderr.strip()}", file=sys.stderr)
        return subprocess.CompletedProcess(argv, 1)
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not capture
    command = [
        "systemd-run", "--quiet", "--wait", "--collect", "--service-type=exec",
        "--pty" if interactive else "--pipe", "--working-directory=/",
        *(f"--property={p}" for p in unit_properties(show.stdout)), *argv,
    ]
    return subprocess.run(command, stdout=subprocess.PIPE if capture else None, text=True)
