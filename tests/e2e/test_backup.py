"""Backups that are checked and restores that work: Taskboard's SQLite data, its logins and its
settings backed up while it takes writes, restored onto a fresh host with a newer version
(which migrates it), refused when the file is not a good backup; the daily timer, a failure
where an admin looks, and restic carrying the backups elsewhere."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import booted_host, hosts_with_nginx
from .host import Host, eventually, said
from .test_example_app import DATABASE, User, install

host = hosts_with_nginx()  # servers with nginx and python3 already (tests/e2e/conftest.py)

BACKUPS = "/var/backups/flaskapp"


def backups(host: Host) -> list[str]:
    listed = host.run("sh", "-c", f"ls {BACKUPS}/flaskapp-*.tar.gz 2>/dev/null || true").stdout
    return listed.split()


def integrity(host: Host) -> str:
    return host.run("/opt/venvs/flaskapp/bin/python", "-c", "import sqlite3, sys; print(sqlite3.connect("
                    f"'file:{DATABASE}?mode=ro', uri=True).execute('PRAGMA integrity_check').fetchone()[0])"
                    ).stdout.strip()


def tampered(good: bytes, state_members: dict[str, bytes] | None = None, version: str | None = None) -> bytes:
    """The good backup with its state replaced by `state_members` (names as given: `../x`
    too) or its version changed."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(good), mode="r:gz") as source, \
            tarfile.open(fileobj=out, mode="w:gz") as copy:
        for member in source:
            data = source.extractfile(member).read()
            if member.name == "flaskapp-backup.json" and version:
                data = json.dumps({**json.loads(data), "version": version}).encode()
            if member.name == "state.tar" and state_members is not None:
                state = io.BytesIO()
                with tarfile.open(fileobj=state, mode="w") as inner:
                    for name, content in state_members.items():
                        info = tarfile.TarInfo(name)
                        info.size = len(content)
                        inner.addfile(info, io.BytesIO(content))
                data = state.getvalue()
            member.size = len(data)
            copy.addfile(member, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
def fresh(image: Path, tmp_path: Path) -> Iterator[Host]:
    """A second host, freshly booted: the one a backup is restored onto."""
    with booted_host(image, tmp_path / "fresh", "backup-fresh") as host:
        yield host


def test_a_backup_under_writes_restores_onto_a_fresh_host_and_a_newer_version_migrates_it(
        host: Host, fresh: Host, taskboard_1: Path, taskboard_2: Path, tmp_path: Path) -> None:
    install(host, taskboard_1)
    ada = User(host, "ada")
    ada.sign_up()
    acknowledged: list[tuple[float, str]] = []
    failures: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        for number in range(2000):  # bounded: about 20 s at most on this machine
            if stop.is_set():
                return
            title = f"task {number}"
            response = ada.session.post(ada.base + "/create", data={"title": title}, timeout=10,
                                        allow_redirects=False)
            if response.status_code == 302:
                acknowledged.append((time.monotonic(), title))
            else:
                failures.append(f"{response.status_code}: {response.text[:200]}")

    writing = threading.Thread(target=writer)
    writing.start()
    eventually(lambda: len(acknowledged) > 20, what="the writer's first tasks")
    began = time.monotonic()
    made = host.run("flaskapp-site", "backup")
    time.sleep(0.5)
    stop.set()
    writing.join(timeout=60)

    assert failures == []
    assert "backup written and checked" in made.stdout
    [backup] = backups(host)
    file = host.file(backup)
    assert (file.user, file.mode) == ("root", 0o600)
    assert host.file(BACKUPS).mode == 0o700
    verified = host.run("flaskapp-site", "verify-backup", backup).stdout
    assert "a good backup of flaskapp" in verified and "taskboard.sqlite" in verified
    assert Path(backup).name in host.run("flaskapp-site", "list-backups").stdout
    assert f"last good backup: {Path(backup).name}, 0 hours ago" in host.run("flaskapp-site", "status").stdout
    before_backup = [title for at, title in acknowledged if at < began]
    good = (host.root / backup.lstrip("/")).read_bytes()

    # A fresh host, with the app's version 2: the backup of version 1 is restored and migrated.
    install(fresh, taskboard_2)
    (tmp_path / "backup.tar.gz").write_bytes(good)
    copied = fresh.copy_in(tmp_path / "backup.tar.gz")
    restored = fresh.run("flaskapp-site", "restore", copied)
    assert "running the installed version's upgrade commands" in restored.stdout, said(restored)
    assert "applied: 0002-task-priority.sql" in said(restored)
    assert integrity(fresh) == "ok"
    # Ada's browser, moved to the new host: her session (signed by the key restored) is valid.
    session = ada.session.cookies.get("session")
    ada.session.cookies.clear()
    ada.session.cookies.set("session", session)  # for any host: the cookie is the same
    ada.base = f"http://{fresh.address}"
    page = ada.get("/").text
    assert '<span class="user">ada</span>' in page
    missing = [title for title in before_backup if f">{title}<" not in page]
    assert missing == [], f"{len(missing)} of {len(before_backup)} acknowledged tasks missing"
    left = [path.name for path in (fresh.root / "var/lib/flaskapp").iterdir()]
    assert not [name for name in left if name.startswith("app.before-restore")], left

    # What is not a good backup is refused, and the data stays as it is.
    database = fresh.root / DATABASE.lstrip("/")
    kept = database.read_bytes()
    corrupt = bytearray(good)
    corrupt[len(good) // 2] ^= 0xFF
    cases = {
        "corrupt": (bytes(corrupt), "not a readable flaskapp backup"),
        "truncated": (good[:len(good) // 2], "not a readable flaskapp backup"),
        "not-a-backup": (gzip.compress(b"hello"), "not a readable flaskapp backup"),
        "escaping": (tampered(good, {"../../../etc/cron.d/evil": b"* * * * * root id\n"}),
                     "not a relative path inside the state"),
        "newer": (tampered(good, version="99.0"), "newer than the installed"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        refused = fresh.run("flaskapp-site", "restore", fresh.copy_in(tmp_path / name), check=False)
        assert refused.returncode == 1 and message in refused.stderr, (name, said(refused))
        assert "nothing was changed" in refused.stderr, name
        assert database.read_bytes() == kept, name
        assert not fresh.file("/etc/cron.d/evil").exists
    assert '<span class="user">ada</span>' in ada.get("/").text


def test_the_timer_backs_up_a_failure_shows_and_restic_carries_them_elsewhere(installed: Host) -> None:
    host = installed
    host.run("mkdir", "-p", "/etc/systemd/system/flaskapp-backup.timer.d")
    host.file("/etc/systemd/system/flaskapp-backup.timer.d/often.conf").write(
        "[Timer]\nOnCalendar=\nOnCalendar=*:*:0/4\nAccuracySec=1s\nRandomizedDelaySec=0\n")
    # Off the host with restic (README, "Backups"): each backup is sent once it is checked.
    host.run("apt-get", "install", "--yes", "restic")
    host.file("/root/restic-password").write("correct horse battery staple\n")
    host.run("mkdir", "-p", "/etc/systemd/system/flaskapp-backup.service.d")
    host.file("/etc/systemd/system/flaskapp-backup.service.d/restic.conf").write(
        "[Service]\nEnvironment=RESTIC_REPOSITORY=/srv/restic RESTIC_PASSWORD_FILE=/root/restic-password\n"
        "ExecStartPost=/usr/bin/restic backup --quiet --tag flaskapp /var/backups/flaskapp\n")
    host.run("env", "RESTIC_PASSWORD_FILE=/root/restic-password", "restic", "init", "--repo", "/srv/restic")
    host.run("systemctl", "daemon-reload")
    host.run("systemctl", "restart", "flaskapp-backup.timer")

    eventually(lambda: len(backups(host)) >= 2, timeout=60, what="two backups by the timer")
    assert "last good backup: flaskapp-" in host.run("flaskapp-site", "status").stdout

    # A backup that cannot read the state fails, leaves no file, and shows where admins look.
    host.run("install", "-m", "000", "/dev/null", "/var/lib/flaskapp/app/unreadable")
    backup_service = host.service("flaskapp-backup.service")
    eventually(lambda: backup_service._systemctl("is-failed") == "failed", timeout=60, what="a failed backup")
    assert "flaskapp-backup.service" in host.run("systemctl", "--failed", "--no-legend").stdout
    status = host.run("flaskapp-site", "status").stdout
    assert "last good backup: flaskapp-" in status and "the last backup FAILED" in status, status
    assert not host.run("sh", "-c", f"ls -A {BACKUPS} | grep partial || true").stdout.strip()
    host.run("systemctl", "stop", "flaskapp-backup.timer")
    host.run("rm", "/var/lib/flaskapp/app/unreadable")
    host.run("systemctl", "start", "flaskapp-backup.service")
    assert backup_service._systemctl("is-failed") != "failed"

    # One comes back from restic, whole.
    restic = ["env", "RESTIC_REPOSITORY=/srv/restic", "RESTIC_PASSWORD_FILE=/root/restic-password", "restic"]
    assert "flaskapp" in host.run(*restic, "snapshots").stdout
    host.run(*restic, "restore", "latest", "--target", "/root/from-restic")
    newest = backups(host)[-1]
    assert "a good backup" in host.run("flaskapp-site", "verify-backup", f"/root/from-restic{newest}").stdout

    # Purge keeps the backups, and says where.
    purged = host.run("apt-get", "purge", "--yes", "flaskapp")
    assert "kept the backups in /var/backups/flaskapp" in said(purged)
    assert backups(host)
