"""Runs a command the way flaskapp.service runs gunicorn: in a transient unit with every
setting of the service's [Service] section (its user, environment files, secret key, state
directory and whole sandbox), from the files systemd loaded for it, drop-ins included and
in systemd's order, so that whatever the command writes the service can read and write, and a
drop-in that changes the service (network for a database, a credential, a bind mount)
changes the command the same way. There is no second list of settings to keep in step.

What the command does not take is what systemd.service(5) itself defines, how systemd runs
the service's process (its type, commands, restarts, timeouts): the command is run once,
by systemd-run. And an interactive command (a terminal: `flaskapp shell`) goes without the
system-call filter, which is written for a web server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .app_boundary import VENV, printable

UNIT = "flaskapp.service"
# systemd.service(5)'s options: the service's own process, not its environment or sandbox.
SERVICE_ONLY = {
    "Type", "ExitType", "RemainAfterExit", "GuessMainPID", "PIDFile", "BusName",
    "ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop",
    "ExecStopPost", "RestartSec", "RestartSteps", "RestartMaxDelaySec", "TimeoutStartSec",
    "TimeoutStopSec", "TimeoutAbortSec", "TimeoutSec", "TimeoutStartFailureMode",
    "TimeoutStopFailureMode", "RuntimeMaxSec", "RuntimeRandomizedExtraSec", "WatchdogSec",
    "Restart", "RestartMode", "SuccessExitStatus", "RestartPreventExitStatus",
    "RestartForceExitStatus", "RootDirectoryStartOnly", "NonBlocking", "NotifyAccess",
    "Sockets", "FileDescriptorStoreMax", "FileDescriptorStorePreserve", "USBFunctionDescriptors",
    "USBFunctionStrings", "OOMPolicy", "OpenFile", "ReloadSignal",
}
# The upgrade pin (debian/flaskapp.preinst): the service serves the version that ran before an
# upgrade until that upgrade is configured, but the command is the installed version's (its
# configure-time load, its migration; an admin's fix of it).
PIN = "/opt/venvs/.flaskapp-pinned"
PIN_BIND = ("BindReadOnlyPaths", f"-{PIN}:{VENV}")
# Left out for a terminal: an interactive shell's needs are not a web server's.
INTERACTIVE_ONLY_WITHOUT = {"SystemCallFilter", "SystemCallErrorNumber"}


class UnitError(RuntimeError):
    pass


def service_settings(unit_text: str) -> Iterator[tuple[str, str]]:
    """(name, value) of every [Service] assignment in `systemctl cat`'s output (the unit file,
    then its drop-ins, each with its own section headers), in order, continuation lines
    joined as systemd joins them."""
    section = None
    logical = ""
    for line in unit_text.splitlines():
        if logical:
            if line.lstrip()[:1] in ("#", ";"):
                continue  # systemd skips comments inside a continued line too
            line = logical + " " + line.lstrip()
            logical = ""
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.endswith("\\"):
            logical = stripped[:-1].rstrip()
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1]
            continue
        if section != "Service" or "=" not in stripped:
            continue
        name, _, value = stripped.partition("=")
        yield name.strip(), value.strip()


def execution_settings(unit_text: str) -> list[tuple[str, str]]:
    """What of the service's [Service] settings another process of the app takes: its user,
    environment, state and sandbox, not how systemd runs gunicorn (SERVICE_ONLY). An empty
    value stays: it resets a list that an earlier file set, as in a drop-in."""
    return [(name, value) for name, value in service_settings(unit_text) if name not in SERVICE_ONLY]


def unit_properties(unit_text: str, interactive: bool) -> list[str]:
    """The service's settings as systemd-run --property values."""
    left_out = INTERACTIVE_ONLY_WITHOUT if interactive else set()
    return [f"{name}={value}" for name, value in execution_settings(unit_text)
            if name not in left_out and (name, value) != PIN_BIND]


# systemd.unit(5)'s search path for system units, first wins (as far as a generator may read
# it: not the generators' own directories).
UNIT_PATH = ["/etc/systemd/system.control", "/run/systemd/system.control", "/run/systemd/transient",
             "/etc/systemd/system", "/etc/systemd/system.attached", "/run/systemd/system",
             "/run/systemd/system.attached", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
             "/lib/systemd/system"]


def unit_files(unit: str = UNIT, search: list[str] = UNIT_PATH) -> str:
    """The unit's file and its drop-ins, concatenated in systemd's order, as `systemctl cat`
    shows them, read from disk: for a generator, which may not ask systemd. Drop-ins are sorted
    by file name across directories; of two with one name, the earlier directory's wins. A
    masked unit (a link to /dev/null) is an error."""
    fragment = next((Path(d) / unit for d in search if (Path(d) / unit).exists()
                     or (Path(d) / unit).is_symlink()), None)
    if fragment is None:
        raise UnitError(f"{unit} is not installed")
    if fragment.resolve() == Path("/dev/null"):
        raise UnitError(f"{unit} is masked")
    dropins: dict[str, Path] = {}
    for directory in search:
        for conf in sorted(Path(directory, f"{unit}.d").glob("*.conf")):
            dropins.setdefault(conf.name, conf)
    parts = [fragment, *(dropins[name] for name in sorted(dropins))]
    return "".join(f"# {path}\n{path.read_text()}\n" for path in parts
                   if path.resolve() != Path("/dev/null"))


def loaded_unit() -> str:
    """The service's unit as systemd loaded it: the files `systemctl cat` shows, drop-ins
    included. A masked or missing unit is an error, not an empty sandbox."""
    show = subprocess.run(["systemctl", "show", UNIT, "--property=LoadState"],
                          capture_output=True, text=True)
    state = show.stdout.strip().partition("=")[2]
    if show.returncode != 0 or state != "loaded":
        raise UnitError(f"{UNIT} is not loaded ({state or show.stderr.strip()}): its sandbox is "
                        "what the command runs in")
    cat = subprocess.run(["systemctl", "cat", UNIT], capture_output=True, text=True)
    if cat.returncode != 0:
        raise UnitError(f"cannot read {UNIT}: {cat.stderr.strip()}")
    return cat.stdout


def run_as_service(argv: list[str], capture: bool = False, from_the_app: bool = False,
                   stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None,
                   ) -> subprocess.CompletedProcess:
    """Runs argv as the service would. Its output is the caller's terminal's, or captured
    (capture: stdout and stderr, as text), or, from_the_app, passed on with the control
    characters taken out (what root prints of the app's at configure: app_boundary). With
    stdin or stdout (files: a backup's stream), those are its own, and its stderr is passed
    on as from_the_app's."""
    if os.geteuid() != 0:
        print("flaskapp: run it as root (sudo flaskapp …): it runs the app's command as the "
              "service's user, with the service's configuration", file=sys.stderr)
        return subprocess.CompletedProcess(argv, 1, "", "")
    try:
        unit = loaded_unit()
    except UnitError as error:
        print(f"flaskapp: {error}", file=sys.stderr)
        return subprocess.CompletedProcess(argv, 1, "", "")
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not (capture or from_the_app)
    command = [
        "systemd-run", "--quiet", "--wait", "--collect", "--service-type=exec",
        "--pty" if interactive else "--pipe",
        *(f"--property={p}" for p in unit_properties(unit, interactive)), *argv,
    ]
    if capture:
        return subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if stdin is not None or stdout is not None:
        streamed = subprocess.run(command, stdin=stdin or subprocess.DEVNULL,
                                  stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE)
        print(printable(streamed.stderr.decode(errors="replace")), end="", file=sys.stderr, flush=True)
        return subprocess.CompletedProcess(argv, streamed.returncode, streamed.stdout)
    if not from_the_app:
        return subprocess.run(command)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", stdin=subprocess.DEVNULL) as running:
        for line in running.stdout:
            print(printable(line), end="", flush=True)
    return subprocess.CompletedProcess(argv, running.returncode)
