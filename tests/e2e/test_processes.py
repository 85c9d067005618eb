"""A Procfile app's processes beside the web: Jobqueue (tests/apps), with an rq worker on
Debian's Redis and scheduled jobs, in the slot as its authors wrote it. Its worker runs as the
service runs the app and does the jobs enqueued over HTTP; its jobs run on their schedule, never
twice at once, after a boot that missed them, and a failing one shows; an upgrade under load
does every job once, none by the old version after the migration; remove stops everything and
purge succeeds."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import requests

from .conftest import hosts_with_nginx
from .host import Host, eventually, said
from .load import throughout

host = hosts_with_nginx()  # servers with nginx and python3 already (tests/e2e/conftest.py)

# What the admin writes before the install: Redis's address among the app's secrets, and the
# README's drop-in that gives the app the network (a drop-in of flaskapp.service: every process
# of the app gets it).
REDIS = "REDIS_URL=redis://127.0.0.1:6379/0\n"
NETWORK = "[Service]\nPrivateNetwork=no\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n"
WORKER = "flaskapp-process@worker.1.service"
STAMPS = "/var/lib/systemd/timers"


def done(host: Host) -> dict[str, int]:
    return host.get("/jobs/done").json()


def ticks(host: Host, job: str = "tick") -> list[tuple[float, float]]:
    return [(started, finished) for name, started, finished in host.get("/ticks").json() if name == job]


def exposure(host: Host, unit: str) -> float:
    shown = host.run("systemd-analyze", "security", "--no-pager", unit).stdout
    return float(re.search(r"Overall exposure level for \S+: (\d+\.\d+)", shown).group(1))


def failed_units(host: Host) -> list[str]:
    listed = host.run("systemctl", "list-units", "--failed", "--plain", "--no-legend", "--full").stdout
    return [line.split()[0] for line in listed.splitlines() if line.strip()]


def on_the_pinned_copy(host: Host, unit: str) -> bool:
    """Whether the unit's process runs on the upgrade pin's copy of the previous version."""
    return ".flaskapp-running" in host.run("cat", f"/proc/{host.service(unit).main_pid}/mountinfo").stdout


def app_processes(host: Host) -> str:
    return host.run("pgrep", "--list-full", "--uid", "flaskapp", check=False).stdout


def test_a_procfile_app_runs_its_worker_and_jobs_as_the_service_through_an_upgrade_and_removal(
        host: Host, jobqueue_1: Path, jobqueue_2: Path) -> None:
    host.run("apt-get", "install", "--yes", "redis-server")
    host.run("mkdir", "-p", "/etc/flaskapp", "/etc/systemd/system/flaskapp.service.d")
    host.file("/etc/flaskapp/secrets.env").write(REDIS)
    host.file("/etc/systemd/system/flaskapp.service.d/network.conf").write(NETWORK)
    installed = host.apt_install(jobqueue_1)
    # Its Procfile's release line, at the first install.
    assert "running the app's release command: flask init-db" in said(installed)
    assert "jobqueue: schema version 1" in said(installed)
    host.wait_until_serving(path="/version", body="1")

    # The worker: its Procfile's line, as the service runs the app (user, state, sandbox:
    # exposure within 0.1, the admin's network drop-in included), named in the journal.
    assert host.service(WORKER).is_active
    for unit in (WORKER, "flaskapp-job@tick.service"):
        shown = host.run("systemctl", "show", unit, "--property=User,PrivateNetwork,StateDirectory")
        assert set(shown.stdout.split()) == {"User=flaskapp", "PrivateNetwork=no",
                                             "StateDirectory=flaskapp/app"}
    assert abs(exposure(host, WORKER) - exposure(host, "flaskapp.service")) <= 0.1
    assert requests.post(f"http://{host.address}/jobs/first", timeout=10).status_code == 202
    eventually(lambda: done(host).get("first") == 1, what="the worker did the first job")
    journal = host.run("journalctl", "--identifier=flaskapp-worker.1", "--output=cat").stdout
    assert "jobqueue: Job OK (record-first)" in journal

    # A job every 3 s that takes 5: it runs, and never twice at once.
    eventually(lambda: len(ticks(host)) >= 3, timeout=40, what="three ticks")
    runs = ticks(host)
    assert all(later[0] >= earlier[1] for earlier, later in zip(runs, runs[1:], strict=False)), runs
    # A failing job, run by hand: it shows where an admin looks.
    ran = host.run("systemctl", "start", "flaskapp-job@report.service", check=False)
    assert ran.returncode != 0
    assert "flaskapp-job@report.service" in failed_units(host)
    assert "the report's mail server refused the connection" in host.run(
        "journalctl", "--unit=flaskapp-job@report.service", "--output=cat").stdout
    status = host.run("flaskapp-site", "status").stdout
    assert "flaskapp-process@worker.1: active" in status
    assert re.search(r"flaskapp-job@report \(daily\): timer active, last run .*\(failed, exit-code\)",
                     status), status
    assert re.search(r"flaskapp-job@tick \(\*:\*:0/3\): timer active, last run \w", status), status
    host.run("systemctl", "reset-failed", "flaskapp-job@report.service")

    # A daily job whose run a powered-off machine missed runs once it is back.
    assert ticks(host, "nightly") == []
    host.run("touch", "--date=2 days ago", f"{STAMPS}/stamp-flaskapp-job@nightly.timer")
    host.reboot()
    eventually(lambda: len(ticks(host, "nightly")) == 1, what="the missed nightly job ran after the boot")
    assert host.service(WORKER).is_active

    # Counts: the admin's PROCESSES= in site.conf, applied.
    settings = host.file("/etc/flaskapp/site.conf")
    settings.write(settings.content + "PROCESSES=worker=2\n")
    host.run("flaskapp-site", "apply")
    assert host.service("flaskapp-process@worker.2.service").is_active
    settings.write(settings.content.replace("PROCESSES=worker=2\n", "PROCESSES=worker=0\n"))
    host.run("flaskapp-site", "apply")
    assert not host.service(WORKER).is_active
    assert not host.service("flaskapp-process@worker.2.service").is_active
    settings.write(settings.content.replace("PROCESSES=worker=0\n", ""))
    host.run("flaskapp-site", "apply")
    # `systemctl restart flaskapp` (after editing flaskapp.env) restarts the worker too.
    worker_pid = host.service(WORKER).main_pid
    host.run("systemctl", "restart", "flaskapp")
    eventually(lambda: host.service(WORKER).main_pid not in (0, worker_pid), what="the worker restarted")

    # The upgrade, under load, with a job in hand and jobs enqueued throughout.
    enqueued = ["first"]

    def enqueue(name: str, seconds: float = 0) -> None:
        answer = requests.post(f"http://{host.address}/jobs/{name}", params={"seconds": seconds}, timeout=10)
        assert answer.status_code == 202, answer.text
        enqueued.append(name)
    enqueue("in-hand", seconds=6)
    time.sleep(1)  # the worker has it
    stop = threading.Event()

    def keep_enqueueing() -> None:
        for n in range(200):  # bounded: about 40 s at most
            if stop.is_set():
                return
            enqueue(f"during-{n}")
            time.sleep(0.2)
    enqueuer = threading.Thread(target=keep_enqueueing)
    path = host.copy_in(jobqueue_2)
    enqueuer.start()
    try:
        upgraded: list = []
        load = throughout(f"http://{host.address}/version",
                          lambda: upgraded.append(host.run("apt-get", "install", "--yes", path)), 120)
    finally:
        stop.set()
        enqueuer.join()
    assert load.failed == 0, load
    assert load.requests > 1000, load
    upgrade_said = said(upgraded[0])
    assert "stopping flaskapp-process@worker.1.service (each finishes its job in hand)" in upgrade_said
    assert "jobqueue: schema version 2" in upgrade_said
    for n in range(3):
        enqueue(f"after-{n}")
    eventually(lambda: set(done(host)) == set(enqueued), timeout=60,
               what=f"every one of the {len(enqueued)} jobs done")
    results = done(host)
    # Each once (the table's key refuses a second run), the one in hand finished by version 1
    # before the migration, every job after it by version 2: a job of one version on the
    # other's schema fails, and would be missing.
    assert results["in-hand"] == 1
    assert all(results[f"after-{n}"] == 2 for n in range(3))
    assert failed_units(host) == []
    eventually(lambda: ticks(host) and ticks(host)[-1][0] > time.time() - 30 and len(ticks(host)) > len(runs),
               what="the ticks go on after the upgrade")
    runs = ticks(host)
    assert all(later[0] >= earlier[1] for earlier, later in zip(runs, runs[1:], strict=False)), runs

    # A failed configure (a migration that refuses the data): the worker comes back on the
    # version that ran before, pinned as the web service is; once fixed and configured, it
    # runs the installed version.
    enqueue("reserved")
    eventually(lambda: "reserved" in done(host), what="the job named reserved done")
    failed = host.run("apt-get", "install", "--yes", "--reinstall", path, check=False)
    assert failed.returncode != 0
    assert "cannot migrate: a job is named 'reserved'" in said(failed)
    assert host.service(WORKER).is_active
    assert on_the_pinned_copy(host, WORKER)
    enqueue("while-failed")
    eventually(lambda: "while-failed" in done(host), what="the pinned worker did a job")
    host.run("flaskapp", "forget", "reserved")
    host.run("dpkg", "--configure", "-a")
    eventually(lambda: host.service(WORKER).is_active and not on_the_pinned_copy(host, WORKER),
               what="the worker on the installed version")
    assert failed_units(host) == []

    # Remove stops every process of the app; purge then succeeds (userdel needs none left).
    host.run("apt-get", "remove", "--yes", "flaskapp")
    assert app_processes(host) == ""
    assert host.run("systemctl", "list-units", "--plain", "--no-legend", "flaskapp*").stdout.strip() == ""
    host.run("apt-get", "purge", "--yes", "flaskapp")
    assert host.run("getent", "passwd", "flaskapp", check=False).returncode == 2
    # Nothing left of the timers either (systemd's record of their last runs).
    assert "flaskapp" not in host.run("ls", STAMPS).stdout
