"""`apt install ./flaskapp_*.deb` → the first `Hello World!` on freshly booted hosts, and where
the time goes: apt's own part, unpacking, and each step of postinst (traced)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from tests.e2e.conftest import booted_host
from tests.e2e.host import Host, HostError

# What "a host that already has nginx and python3" has (python3 pulls in python3.11).
DEPENDENCIES = ["nginx", "python3"]
RUNS = 3

# postinst's steps, by the command that starts each (first match wins); every traced command
# counts for its own step, so the steps add up to the whole configure.
STEPS = [
    (r"\badduser\b", "system user created (`adduser`)"),
    (r"secret|statoverride|\bchown\b|\bchmod\b", "secret key made (`python -c secrets…`)"),
    (r"site\.conf", "settings file copied"),
    (r"compileall", "bytecode compiled (`compileall -j 0`, every CPU)"),
    (r"prepare-app", "app loaded in its sandbox as gunicorn does, described (`flaskapp-site prepare-app`)"),
    (r"deb-systemd-helper", "units enabled (debhelper's `deb-systemd-helper`, Perl, 3 calls a unit)"),
    (r"daemon-reload", "systemd reloaded (debhelper, once per unit it starts)"),
    (r"deb-systemd-invoke \S+ flaskapp\.socket", "flaskapp.socket started"),
    (r"deb-systemd-invoke \S+ flaskapp\.service", "flaskapp.service started (gunicorn and its workers up)"),
    (r"flaskapp-site apply",
     "nginx site enabled, `nginx -t`, reload; firewall detected (`flaskapp-site apply`)"),
    (r"flaskapp-firewall\.service", "flaskapp-firewall.service started (the port checked again)"),
]
OTHER = "the rest (the shell, dh-virtualenv's interpreter check)"
# The postinst run by bash with every command traced and timed (bash, not dash: dash has no
# clock in its trace; root's bash takes PS4 only from the script).
TRACING_POSTINST = """#!/bin/bash
exec 2>>/root/postinst.trace
PS4='+ $EPOCHREALTIME '
set -x
. /root/postinst.traced
"""


@dataclass
class InstallTimes:
    bare: list[float] = field(default_factory=list)  # → first 200, a bare host
    bare_dependencies_done: list[float] = field(default_factory=list)  # until "Setting up flaskapp"
    dependencies_alone: list[float] = field(default_factory=list)  # apt-get install nginx python3
    present: list[float] = field(default_factory=list)  # → first 200, nginx and python3 there
    phases: list[dict[str, float]] = field(default_factory=list)  # of each `present` run
    empty_deb: list[float] = field(default_factory=list)  # apt install of a package with nothing in it
    steps: dict[str, float] = field(default_factory=dict)  # postinst, traced, one run
    firewall_detection: float = 0.0  # `flaskapp-site firewall open` alone, median of 5


def timed_output(host: Host, *argv: str) -> tuple[list[tuple[float, str]], float]:
    """Runs argv in the host: each line it prints with the seconds since the start when it
    came, and the seconds until it exited."""
    started = time.monotonic()
    process = host.start(*argv)
    lines = [(time.monotonic() - started, line.rstrip("\n")) for line in process.stdout]
    if process.wait() != 0:
        raise HostError(f"{' '.join(argv)} exited {process.returncode}:\n"
                        + "\n".join(line for _, line in lines[-30:]))
    return lines, time.monotonic() - started


def when(lines: list[tuple[float, str]], prefix: str) -> float:
    return next(at for at, line in lines if line.startswith(prefix))


def install_to_first_200(host: Host, deb: Path) -> tuple[float, list[tuple[float, str]], float]:
    """`apt install ./flaskapp_*.deb` as the README says, then GET / until `Hello World!`:
    seconds from apt's start to that answer, apt's timed output, and when apt returned."""
    path = host.copy_in(deb)
    started = time.monotonic()
    lines, apt_seconds = timed_output(host, "apt-get", "install", "--yes", path)
    host.wait_until_serving(timeout=60)
    return time.monotonic() - started, lines, apt_seconds


def empty_deb(workdir: Path) -> Path:
    """A package with nothing in it: what apt and dpkg cost for any local .deb here."""
    root = workdir / "empty"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        "Package: bench-empty\nVersion: 1\nArchitecture: all\n"
        "Maintainer: flaskapp maintainers <maintainers@flaskapp.example.org>\n"
        "Description: nothing, to time apt itself\n")
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(workdir / "empty.deb")],
                   check=True, capture_output=True)
    return workdir / "empty.deb"


def postinst_steps(trace: str, ended: float) -> dict[str, float]:
    """Seconds per step from the bash trace ("+ <epoch seconds> <command>" per command, more
    "+" when nested): each command lasts until the next one starts, the last until `ended`."""
    commands = [(float(match[1]), match[2]) for match in re.finditer(r"^\++ (\d+\.\d+) (.*)$", trace, re.M)]
    steps: dict[str, float] = {}
    for (at, command), (next_at, _) in zip(commands, [*commands[1:], (ended, "")], strict=True):
        step = next((name for pattern, name in STEPS if re.search(pattern, command)), OTHER)
        steps[step] = steps.get(step, 0.0) + next_at - at
    return steps


def measure_install(image: Path, deb: Path, workdir: Path) -> InstallTimes:
    times = InstallTimes()
    empty = empty_deb(workdir)
    for run in range(RUNS):
        with booted_host(image, workdir / f"bare-{run}", f"bench-install-bare-{run}") as host:
            seconds, lines, _ = install_to_first_200(host, deb)
            times.bare.append(seconds)
            times.bare_dependencies_done.append(when(lines, "Setting up flaskapp"))
        with booted_host(image, workdir / f"present-{run}", f"bench-install-present-{run}") as host:
            started = time.monotonic()
            host.run("apt-get", "install", "--yes", *DEPENDENCIES)
            times.dependencies_alone.append(time.monotonic() - started)
            _, empty_seconds = timed_output(host, "apt-get", "install", "--yes", host.copy_in(empty))
            times.empty_deb.append(empty_seconds)
            seconds, lines, apt_seconds = install_to_first_200(host, deb)
            times.present.append(seconds)
            unpacking = when(lines, "Preparing to unpack .../flaskapp_")
            configuring = when(lines, "Setting up flaskapp")
            times.phases.append({
                "apt before dpkg: package lists, dependencies, the .deb read": unpacking,
                "unpacked (`preinst`, dpkg writes the files)": configuring - unpacking,
                "configured (`postinst`), apt's end": apt_seconds - configuring,
                "after apt returned, until the first `Hello World!`": seconds - apt_seconds,
            })

    with booted_host(image, workdir / "traced", "bench-install-traced") as host:
        host.run("apt-get", "install", "--yes", *DEPENDENCIES)
        host.run("dpkg", "--unpack", host.copy_in(deb))
        postinst = host.root / "var/lib/dpkg/info/flaskapp.postinst"
        (host.root / "root/postinst.traced").write_text(postinst.read_text())
        postinst.write_text(TRACING_POSTINST)
        host.run("dpkg", "--configure", "flaskapp")
        times.steps = postinst_steps(host.file("/root/postinst.trace").content, time.time())
        detections = []
        for _ in range(5):
            started = time.monotonic()
            host.run("flaskapp-site", "firewall", "open")
            detections.append(time.monotonic() - started)
        times.firewall_detection = median(detections)
    return times


def report(times: InstallTimes) -> list[str]:
    """docs/benchmarks.md's section on install time."""
    def spread(values: list[float]) -> str:
        return f"{median(values):.1f} s ({min(values):.1f}–{max(values):.1f})"

    phases = {name: median([run[name] for run in times.phases]) for name in times.phases[0]}
    traced = sum(times.steps.values())
    return [
        "## `apt install` → the first `Hello World!`",
        "",
        f"On fresh hosts ({len(os.sched_getaffinity(0))} CPUs, the image's apt cache as the archive), "
        f"median of {RUNS} hosts each",
        "(fastest–slowest): from `apt-get install --yes ./flaskapp_*.deb` until `GET /` answers.",
        "",
        "| host | seconds |",
        "|---|---:|",
        f"| nginx and python3 already installed | **{spread(times.present)}** |",
        f"| bare (apt pulls in nginx, python3.11 and their libraries) | **{spread(times.bare)}** |",
        f"| bare: of it, until flaskapp's configure starts (every dependency unpacked and "
        f"configured) | {spread(times.bare_dependencies_done)} |",
        f"| for comparison: `apt-get install nginx python3` alone, on a bare host | "
        f"{spread(times.dependencies_alone)} |",
        f"| for comparison: `apt install` of a package with nothing in it (apt and dpkg's own cost) | "
        f"{spread(times.empty_deb)} |",
        "",
        "With nginx and python3 there, the median run's time, by phase (from apt's output as it",
        "came):",
        "",
        "| phase | seconds |",
        "|---|---:|",
        *(f"| {name} | {seconds:.2f} |" for name, seconds in phases.items()),
        "",
        "`postinst` step by step (one more host: `dpkg --unpack`, then `dpkg --configure` with the",
        "postinst run by bash, every command traced with its start time):",
        "",
        "| step | seconds |",
        "|---|---:|",
        *(f"| {name} | {seconds:.2f} |" for name, seconds in
          sorted(times.steps.items(), key=lambda step: -step[1])),
        f"| **all of `postinst`** | **{traced:.2f}** |",
        f"| for comparison: firewall detection alone (`flaskapp-site firewall open`) | "
        f"{times.firewall_detection:.2f} |",
        "",
        f"- Of the {median(times.present):.1f} s with nginx and python3 there, "
        f"{median(times.empty_deb):.1f} s is apt and dpkg's own cost",
        "  for any package on this machine (the empty package): flaskapp's part is the rest,",
        f"  unpacking and `postinst`. On a bare host, its dependencies alone take "
        f"{median(times.dependencies_alone):.1f} s:",
        "  Python's own postinst compiles its standard library, nginx's starts nginx.",
        "- `postinst` loads the app once (its gunicorn configuration too), in the service's",
        "  sandbox: that load is the install's check that the app works, and tells nginx where",
        "  its static files are. Bytecode is compiled here, once, as decided (README: no `.pyc`",
        "  in the package, which stays reproducible). debhelper's systemd snippets (enable,",
        "  reload, start) are Debian's own, kept as they are.",
        "",
    ]
