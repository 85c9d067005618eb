"""The app's processes beside the web, as systemd units: each process type of its Procfile a
service per instance (flaskapp-process@worker.1.service), each scheduled job a timer and a
oneshot service (flaskapp-job@digest.timer, .service).

Which units exist is the app's declarations (/usr/lib/flaskapp/processes.json, from the build)
with site.conf's PROCESSES= and JOBS= over them. The systemd generator (generate(), at boot and
at every daemon-reload) makes them wanted (workers by flaskapp.service, so that they start,
stop and restart with it: PartOf=; timers by timers.target) and gives them flaskapp.service's
own user, environment, state, upgrade pin and sandbox, drop-ins included, in a drop-in of its
own: one source for every process of the app, as systemd-cron makes timers of crontabs.
`flaskapp-site apply` then starts what is wanted and stops what is not (apply()).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .as_service import UNIT, UnitError, execution_settings, unit_files
from .settings import Settings, SettingsError

DECLARED = Path("/usr/lib/flaskapp/processes.json")
UNIT_DIR = "/lib/systemd/system"
WORKER_TEMPLATE = "flaskapp-process@.service"
JOB_TEMPLATE = "flaskapp-job@.service"
TIMER_TEMPLATE = "flaskapp-job@.timer"
GENERATED_BY = "/lib/systemd/system-generators/flaskapp"
# Named to sort first: an admin's own drop-in for a worker or a job comes after it, and wins.
DROPIN = "00-as-flaskapp.service.conf"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Formation:
    """What runs on this host."""
    workers: list[str]   # flaskapp-process@worker.1.service, …
    timers: dict[str, str]  # flaskapp-job@digest.timer -> its schedule
    stop_timeout: int
    unknown: list[str]   # PROCESSES= names the app does not declare

    @property
    def units(self) -> list[str]:
        return [*self.workers, *self.timers]


def worker(kind: str, number: int) -> str:
    return f"flaskapp-process@{kind}.{number}.service"


def timer(job: str) -> str:
    return f"flaskapp-job@{job}.timer"


def formation(settings: Settings, declared: Path = DECLARED) -> Formation:
    try:
        units = json.loads(declared.read_text())
    except FileNotFoundError:
        units = {}
    processes = units.get("processes", {})
    counts = {**processes, **{k: n for k, n in settings.processes.items() if k in processes}}
    return Formation(
        workers=[worker(kind, n) for kind, count in sorted(counts.items()) for n in range(1, count + 1)],
        timers={timer(job): schedule for job, schedule in sorted(units.get("jobs", {}).items())}
        if settings.jobs else {},
        stop_timeout=int(units.get("stop_timeout", 60)),
        unknown=sorted(set(settings.processes) - set(processes)))


def generate(normal_dir: Path, wanted: Formation, service_unit_text: str) -> None:
    """The generator's output (systemd.generator(7)): wants links and drop-ins."""
    for kind, units in (("flaskapp.service.wants", wanted.workers), ("timers.target.wants", wanted.timers)):
        if units:
            (normal_dir / kind).mkdir(parents=True, exist_ok=True)
        for unit in units:
            template = unit.split("@")[0] + "@." + unit.rsplit(".", 1)[1]
            (normal_dir / kind / unit).symlink_to(f"{UNIT_DIR}/{template}")
    for job_timer, schedule in wanted.timers.items():
        dropin = normal_dir / f"{job_timer}.d"
        dropin.mkdir(parents=True, exist_ok=True)
        (dropin / "schedule.conf").write_text(
            f"# The job's schedule, as the app declares it (written by {GENERATED_BY})\n"
            f"[Timer]\nOnCalendar={schedule}\n")
    settings = "".join(f"{name}={value}\n" for name, value in execution_settings(service_unit_text))
    for template in (WORKER_TEMPLATE, JOB_TEMPLATE):
        dropin = normal_dir / f"{template}.d"
        dropin.mkdir(parents=True, exist_ok=True)
        (dropin / DROPIN).write_text(
            f"# Written by {GENERATED_BY} at each daemon-reload: the settings of {UNIT} and its\n"
            f"# drop-ins (its user, environment, state, upgrade pin and sandbox; not how systemd runs\n"
            f"# gunicorn), so that every process of the app runs as the web service does.\n"
            f"[Service]\n{settings}TimeoutStopSec={wanted.stop_timeout}\n")


def generator(argv: list[str], settings: Callable[[], Settings]) -> int:
    """systemd.generator(7): argv is normal-dir [early-dir late-dir]. A generator must not fail
    the boot: a problem is logged, and no process of the app is made (flaskapp-site apply
    says what it is)."""
    try:
        generate(Path(argv[0]), formation(settings()), unit_files())
    except (UnitError, SettingsError, OSError, ValueError) as error:
        print(f"flaskapp generator: the app's workers and jobs are not set up: {error}", file=sys.stderr)
    return 0


def systemctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True)


def loaded(pattern: str, *states: str) -> list[str]:
    """Units matching `pattern` that systemd has loaded (running, failed, …)."""
    listed = systemctl("list-units", "--all", "--plain", "--no-legend", "--full", pattern)
    return sorted(line.split()[0] for line in listed.stdout.splitlines() if line.strip()
                  and (not states or line.split()[2] in states))


def stop_for_migration(say: Say, declared: Path = DECLARED) -> list[str]:
    """Before the new version's commands (its migration) run: no process of the app goes on
    with the old version's code loaded. A job that runs is waited for, up to the app's
    stop_timeout, then stopped; each worker gets SIGTERM and finishes its job in hand (jobs
    queued meanwhile wait in the queue). They start on the new version after the commands
    (postinst's restart of flaskapp.service, and `flaskapp-site apply`). Returns the workers
    stopped, for start() if the commands fail: then they serve the old version, pinned, as
    the web service does."""
    timeout = formation(Settings(), declared).stop_timeout
    running = ("active", "activating", "reloading")
    jobs = loaded("flaskapp-job@*.service", *running)
    if jobs:
        say(f"waiting up to {timeout} s for {', '.join(jobs)} to finish before the app's commands run")
        deadline = time.monotonic() + timeout
        while jobs and time.monotonic() < deadline:
            time.sleep(0.5)
            jobs = loaded("flaskapp-job@*.service", *running)
        if jobs:
            systemctl("stop", *jobs)
            say(f"stopped {', '.join(jobs)}: still running after {timeout} s")
    workers = loaded("flaskapp-process@*.service", *running)
    if workers:
        say(f"stopping {', '.join(workers)} (each finishes its job in hand) before the app's commands run")
        systemctl("stop", *workers)
    return workers


def start(units: list[str]) -> None:
    if units:
        systemctl("start", *units)


def apply(wanted: Formation, say: Say, warn: Say) -> None:
    """Starts the workers and timers that are wanted (workers only while flaskapp.service
    runs: they start with it) and stops those that are not (a count lowered, a type gone)."""
    for name in wanted.unknown:
        warn(f"PROCESSES= names {name}, which the app does not declare: ignored")
    generated = Path("/run/systemd/generator")

    def made(wants: str) -> list[str]:
        return sorted(p.name for p in generated.glob(f"{wants}/flaskapp-*"))
    if made("flaskapp.service.wants") != wanted.workers or made("timers.target.wants") != list(wanted.timers):
        systemctl("daemon-reload")  # the generator's output, for these settings
    surplus = [unit for unit in loaded("flaskapp-process@*", "active", "activating", "reloading", "failed")
               + loaded("flaskapp-job@*.timer", "active") if unit not in wanted.units]
    if surplus:
        systemctl("stop", *surplus)
        say(f"stopped {', '.join(surplus)}")
    start = list(wanted.timers)
    if systemctl("is-active", "--quiet", UNIT).returncode == 0:
        start += wanted.workers
    if start:
        started = systemctl("start", *start)
        if started.returncode != 0:
            warn(f"could not start every process of the app: {started.stderr.strip()} "
                 "(systemctl status 'flaskapp-*')")


def status(wanted: Formation) -> list[str]:
    """A line for each process and timer: its state; a timer's last and next run."""
    lines = []
    for unit in wanted.workers:
        state = systemctl("show", unit, "--property=ActiveState", "--value").stdout.strip()
        lines.append(f"{unit.removesuffix('.service')}: {state}")
    for job_timer, schedule in wanted.timers.items():
        job = job_timer.removesuffix(".timer") + ".service"
        shown = systemctl("show", job_timer, "--property=ActiveState,LastTriggerUSec,NextElapseUSecRealtime")
        timer_props = dict(line.partition("=")[::2] for line in shown.stdout.splitlines())
        result = systemctl("show", job, "--property=Result,ActiveState")
        job_props = dict(line.partition("=")[::2] for line in result.stdout.splitlines())
        lines.append(f"{job_timer.removesuffix('.timer')} ({schedule}): timer "
                     f"{timer_props.get('ActiveState', '?')}, last run "
                     f"{timer_props.get('LastTriggerUSec') or 'never'} "
                     f"({job_props.get('ActiveState')}, {job_props.get('Result')}), next "
                     f"{timer_props.get('NextElapseUSecRealtime') or '-'}")
    return lines
