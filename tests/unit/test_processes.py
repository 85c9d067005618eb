"""The app's workers and jobs as systemd units: which exist (its declarations, the admin's
PROCESSES= and JOBS=), what the generator writes for them (flaskapp.service's settings, drop-ins
included, in systemd's order), and how a Procfile line is run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flaskapp_platform.process import argv
from flaskapp_site import processes
from flaskapp_site.as_service import UnitError, unit_files
from flaskapp_site.settings import Settings, SettingsError, load

from ..conftest import REPO

DECLARED = {"processes": {"worker": 1, "mailer": 2}, "jobs": {"digest": "daily"}, "stop_timeout": 30}


@pytest.fixture
def declared(tmp_path: Path) -> Path:
    path = tmp_path / "processes.json"
    path.write_text(json.dumps(DECLARED))
    return path


def unit_path(tmp_path: Path) -> list[str]:
    """Three directories in systemd's order: /etc, /run, /usr/lib, with the package's unit."""
    dirs = [tmp_path / name for name in ("etc", "run", "lib")]
    for directory in dirs:
        directory.mkdir()
    (dirs[2] / "flaskapp.service").write_text((REPO / "packaging/systemd/flaskapp.service").read_text())
    return [str(d) for d in dirs]


def test_the_units_are_the_declared_counts_with_the_admins_over_them(declared: Path) -> None:
    wanted = processes.formation(Settings(processes={"mailer": 0, "worker": 3, "typo": 1}), declared)
    assert wanted.workers == [f"flaskapp-process@worker.{n}.service" for n in (1, 2, 3)]
    assert wanted.timers == {"flaskapp-job@digest.timer": "daily"}
    assert wanted.unknown == ["typo"]
    assert processes.formation(Settings(jobs=False), declared).timers == {}
    assert processes.formation(Settings(), declared).workers == [
        "flaskapp-process@mailer.1.service", "flaskapp-process@mailer.2.service",
        "flaskapp-process@worker.1.service"]


def test_site_conf_counts_and_jobs_are_read_and_a_bad_count_refused(tmp_path: Path) -> None:
    conf = tmp_path / "site.conf"
    conf.write_text("PROCESSES=worker=2, clock=0  # two workers\nJOBS=no\n")
    assert load(conf, tmp_path / "none").processes == {"worker": 2, "clock": 0}
    assert load(conf, tmp_path / "none").jobs is False
    conf.write_text("PROCESSES=worker:2\n")
    with pytest.raises(SettingsError, match=r"PROCESSES='worker:2' .*: must be type=count pairs"):
        load(conf, tmp_path / "none")


def test_the_generator_gives_workers_and_jobs_the_services_settings_with_the_admins_drop_ins(
        tmp_path: Path, declared: Path) -> None:
    search = unit_path(tmp_path)
    etc, run, lib = (Path(d) for d in search)
    (etc / "flaskapp.service.d").mkdir()
    (etc / "flaskapp.service.d/network.conf").write_text(
        "[Unit]\nAfter=redis-server.service\n[Service]\nPrivateNetwork=no\n"
        "RestrictAddressFamilies=AF_UNIX AF_INET \\\n  AF_INET6\nExecStart=\nExecStart=/bin/false\n")
    # Of two drop-ins with one name, the one earlier in the path wins: /run's is not read.
    (run / "flaskapp.service.d").mkdir()
    (run / "flaskapp.service.d/network.conf").write_text("[Service]\nUser=root\n")
    (lib / "flaskapp.service.d").mkdir()
    (lib / "flaskapp.service.d/zz-last.conf").write_text("[Service]\nMemoryMax=1G\n")
    out = tmp_path / "generator"
    processes.generate(out, processes.formation(Settings(), declared), unit_files(search=search))

    dropin = (out / "flaskapp-process@.service.d" / processes.DROPIN).read_text()
    assert (out / "flaskapp-job@.service.d" / processes.DROPIN).read_text() == dropin
    lines = dropin.splitlines()
    settings = lines[lines.index("[Service]") + 1:]
    # Everything but how systemd runs gunicorn, in systemd's order (the admin's after the unit's).
    assert "User=flaskapp" in settings and "User=root" not in settings
    assert "BindReadOnlyPaths=-/opt/venvs/.flaskapp-pinned:/opt/venvs/flaskapp" in settings
    assert settings.index("PrivateNetwork=yes") < settings.index("PrivateNetwork=no")
    assert "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" in settings
    assert settings[-2:] == ["MemoryMax=1G", "TimeoutStopSec=30"]
    assert not [line for line in settings if line.startswith(("Exec", "Type=", "Restart=", "After="))]

    assert sorted(p.name for p in (out / "flaskapp.service.wants").iterdir()) == [
        "flaskapp-process@mailer.1.service", "flaskapp-process@mailer.2.service",
        "flaskapp-process@worker.1.service"]
    link = out / "flaskapp.service.wants/flaskapp-process@worker.1.service"
    assert str(link.readlink()) == "/lib/systemd/system/flaskapp-process@.service"
    assert str((out / "timers.target.wants/flaskapp-job@digest.timer").readlink()) == (
        "/lib/systemd/system/flaskapp-job@.timer")
    assert "OnCalendar=daily" in (out / "flaskapp-job@digest.timer.d/schedule.conf").read_text()


def test_a_masked_service_makes_no_process_of_the_app(tmp_path: Path, declared: Path) -> None:
    search = unit_path(tmp_path)
    (Path(search[0]) / "flaskapp.service").symlink_to("/dev/null")
    with pytest.raises(UnitError, match="masked"):
        unit_files(search=search)


def test_a_bad_setting_makes_the_generator_say_so_and_make_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    def settings() -> Settings:
        raise SettingsError("PROCESSES='worker:2' (/etc/flaskapp/site.conf, line 3): must be type=count")
    assert processes.generator([str(tmp_path / "out")], settings) == 0
    assert not (tmp_path / "out").exists()
    assert "workers and jobs are not set up: PROCESSES='worker:2'" in capsys.readouterr().err


@pytest.mark.parametrize(("line", "run"), [
    ("rq worker microblog-tasks", ["rq", "worker", "microblog-tasks"]),
    # One command with shell syntax: the shell execs it (SIGTERM reaches rq, not the shell).
    ("rq worker --url $REDIS_URL jobqueue", ["/bin/sh", "-c", "exec rq worker --url $REDIS_URL jobqueue"]),
    ("celery -A 'app.celery' worker", ["/bin/sh", "-c", "exec celery -A 'app.celery' worker"]),
    # A list: the shell stays, and runs it as written.
    ("flask db upgrade && exec rq worker", ["/bin/sh", "-c", "flask db upgrade && exec rq worker"]),
    ("LOG_LEVEL=debug rq worker", ["/bin/sh", "-c", "LOG_LEVEL=debug rq worker"]),
])
def test_a_procfile_line_is_exec_d_or_run_by_the_shell_as_written(line: str, run: list[str]) -> None:
    assert argv(line) == run


def test_a_job_or_worker_starts_without_importing_flask() -> None:
    # A job that runs every minute would pay Flask's import (a quarter of a second of CPU) at
    # each run for nothing: its command is exec'd, and the app, if it needs Flask, imports it.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, flaskapp_platform.process; print(sorted(sys.modules))"],
        env={**os.environ, "PYTHONPATH": str(REPO / "packaging/platform")},
        check=True, capture_output=True, text=True).stdout
    assert "'flask'" not in loaded and "'flaskapp_platform.process'" in loaded
