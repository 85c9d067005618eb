"""A cgroup of its own for each test host.

There is no systemd on this machine, so systemd-nspawn runs with --keep-unit: the container
lives in its caller's cgroup and makes its payload/ and supervisor/ there. Every host booted
from this cgroup (the root of each hierarchy) would share them: one host's systemd removing
system.slice/nginx.service from under another's, which then fails to start its nginx ("Failed
to attach to cgroup"). So each host's nspawn first moves into a cgroup named after it.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "flaskapp-hosts"


def hierarchies() -> list[Path]:
    """The hierarchies nspawn sets the container up in: the unified one alone (cgroup v2), or
    systemd's named one and the unified one beside it (hybrid)."""
    if (ROOT / "cgroup.controllers").exists():
        return [ROOT]
    return [path for path in (ROOT / "systemd", ROOT / "unified") if (path / "cgroup.procs").exists()]


def make(name: str) -> list[Path]:
    """The host's cgroup in each hierarchy (none where one cannot be made: then the host
    shares its caller's, as before)."""
    made = []
    for hierarchy in hierarchies():
        path = hierarchy / PARENT / f"{name}-{os.getpid()}"
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            return []
        made.append(path)
    return made


def enter(cgroups: list[Path]) -> None:
    """In the child, before it execs nspawn (subprocess's preexec_fn)."""
    for path in cgroups:
        try:
            (path / "cgroup.procs").write_text("0")
        except OSError:
            pass


def remove(cgroups: list[Path]) -> None:
    """Once the host is off: what its systemd left, deepest first."""
    for path in cgroups:
        for directory, _, _ in sorted(os.walk(path), key=lambda entry: -len(entry[0])):
            try:
                os.rmdir(directory)
            except OSError:
                pass
