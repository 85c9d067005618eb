"""Backups of a flaskapp server, and restores, on the same host or a freshly installed one.

A backup is one file, /var/backups/flaskapp/flaskapp-<UTC time>.tar.gz (root's, 0600):
- flaskapp-backup.json  what it is: format, the package version that made it, when, where;
- state.tar             the app's state (/var/lib/flaskapp/app), as the app's user made it in
                        its sandbox (flaskapp_platform.snapshot: SQLite's online backup of each
                        database, checked): root writes the stream out and never opens it;
- app-data              what the app's declared `backup` command wrote (a database server's
                        dump), run as the app; loaded back by its `restore` command;
- etc/...               root's side: the secret key, the settings (site.conf, flaskapp.env,
                        secrets.env, gunicorn.conf.py) and the admin's drop-ins of the service.
It is read back and checked before it gets its name: a backup that fails its check is a
failure, not a file. Not in it: what the app keeps elsewhere (a job queue in Redis, a
database server of its own) and TLS certificates (a restored TLS=acme site obtains its own).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from . import app_boundary, processes
from .app_setup import declared_commands
from .as_service import run_as_service
from .settings import Settings

BACKUPS = Path("/var/backups/flaskapp")
STATE = Path("/var/lib/flaskapp/app")
VENV = Path("/opt/venvs/flaskapp")
SNAPSHOT = [str(VENV / "bin/python"), "-m", "flaskapp_platform.snapshot"]
# The app's declared backup and restore commands (setup.cfg [flaskapp]), run as the app.
DECLARED = [str(VENV / "bin/python"), "-m", "flaskapp_platform.process"]
APP_DATA = "app-data"
FORMAT = 1
META = "flaskapp-backup.json"
STATE_MEMBER = "state.tar"
# Root's side: restored with these owners and modes (an existing file keeps its own).
ROOT_FILES = {
    "secret_key": ("root", "flaskapp", 0o640),
    "site.conf": ("root", "root", 0o644),
    "flaskapp.env": ("root", "root", 0o644),
    "secrets.env": ("root", "flaskapp", 0o640),
    "gunicorn.conf.py": ("root", "root", 0o644),
}
ETC = Path("/etc/flaskapp")
DROP_INS = Path("/etc/systemd/system/flaskapp.service.d")

Say = Callable[[str], None]


class BackupError(Exception):
    """Refused or failed, with nothing changed."""


class RestoreFailed(BackupError):
    """A restore that failed once the state was swapped: the message says where the old is."""


def installed_version() -> str:
    return subprocess.run(["dpkg-query", "--show", "--showformat=${Version}", "flaskapp"],
                          capture_output=True, text=True).stdout.strip()


def newer(version: str, than: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", version, "gt", than]).returncode == 0


def private_file(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o600) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def check_state(state: Path) -> dict:
    """The app's side reads the state's tar (files and directories by relative names, each
    database passing integrity_check) and says what it holds."""
    with open(state, "rb") as stream:
        checked = run_as_service([*SNAPSHOT, "check"], stdin=stream)
    if checked.returncode != 0:
        raise BackupError("its state fails the check (above)")
    return app_boundary.snapshot_summary(checked.stdout.decode(errors="replace"))


def read(path: Path, scratch: Path) -> tuple[dict, Path]:
    """Every member read back (gzip's checksums with it); the metadata and the state's tar,
    which is left in scratch (and the app's data, if any, beside it). Anything that is not
    such a backup is refused, saying why."""
    meta, state = None, scratch / STATE_MEMBER
    try:
        with gzip.open(path, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if not member.isreg():
                    raise BackupError(f"{member.name!r} is not a file: not a flaskapp backup")
                data = tar.extractfile(member)
                if member.name == META:
                    meta = json.loads(data.read(1 << 16))
                elif member.name == STATE_MEMBER:
                    with open(private_file(state), "wb") as out:
                        shutil.copyfileobj(data, out, 1 << 20)
                elif member.name == APP_DATA:
                    with open(private_file(scratch / APP_DATA), "wb") as out:
                        shutil.copyfileobj(data, out, 1 << 20)
                elif member.name.startswith("etc/"):
                    data.read()
                else:
                    raise BackupError(f"{member.name!r}: not a member of a flaskapp backup")
            # To gzip's end, whose checksum covers every byte: tar's own end comes before it.
            while stream.read(1 << 20):
                pass
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as error:
        raise BackupError(f"not a readable flaskapp backup: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not state.exists():
        raise BackupError(f"not a flaskapp backup (no {META} of format {FORMAT} and {STATE_MEMBER})")
    return meta, state


def verify(path: Path, say: Say) -> None:
    with tempfile.TemporaryDirectory(dir=BACKUPS if BACKUPS.is_dir() else None) as scratch:
        meta, state = read(path, Path(scratch))
        summary = check_state(state)
    say(f"{path}: a good backup of flaskapp {meta.get('version')} made {meta.get('created')} on "
        f"{meta.get('host')}: {summary['members']} files and directories, databases: "
        f"{', '.join(summary['databases']) or 'none'}")


def create(settings: Settings, say: Say) -> Path:
    """A backup while the app serves; then the old ones beyond the settings' count or age go."""
    BACKUPS.mkdir(mode=0o700, exist_ok=True)
    os.chmod(BACKUPS, 0o700)
    created = datetime.now(UTC)
    name = f"flaskapp-{created:%Y%m%dT%H%M%SZ}.tar.gz"
    final, partial = BACKUPS / name, BACKUPS / f".{name}.partial"
    try:
        with tempfile.TemporaryDirectory(dir=BACKUPS) as scratch:
            state = Path(scratch, STATE_MEMBER)
            with open(private_file(state), "wb") as out:
                made = run_as_service([*SNAPSHOT, "create"], stdout=out)
            if made.returncode != 0:
                raise BackupError("the app's state could not be read (above)")
            app_data = Path(scratch, APP_DATA)
            # A fleet's servers share the one database: its dump is made on the jobs host alone
            # (JOBS=yes, the fleet role's flaskapp_jobs_host), as its scheduled jobs run there.
            if declared_commands("backup") and not settings.jobs:
                say("JOBS=no here: the app's backup command runs on the host that runs its jobs")
            elif declared_commands("backup"):
                with open(private_file(app_data), "wb") as out:
                    dumped = run_as_service([*DECLARED, "backup"], stdout=out)
                if dumped.returncode != 0:
                    raise BackupError(f"the app's backup command failed (exit {dumped.returncode}, above)")
            meta = {"format": FORMAT, "package": "flaskapp", "version": installed_version(),
                    "created": created.isoformat(timespec="seconds"), "host": socket.gethostname()}
            with open(private_file(partial), "wb") as out, \
                    tarfile.open(fileobj=out, mode="w:gz", compresslevel=6) as tar:
                add_bytes(tar, META, json.dumps(meta, indent=1).encode() + b"\n")
                tar.add(str(state), arcname=STATE_MEMBER)
                if app_data.exists():
                    tar.add(str(app_data), arcname=APP_DATA)
                for file in sorted(ROOT_FILES):
                    if (ETC / file).is_file():
                        add_bytes(tar, f"etc/{file}", (ETC / file).read_bytes())
                for conf in sorted(DROP_INS.glob("*.conf")):
                    add_bytes(tar, f"etc/systemd/{conf.name}", conf.read_bytes())
        verify(partial, lambda message: None)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.rename(partial, final)
    say(f"backup written and checked: {final} ({final.stat().st_size} bytes)")
    prune(settings, say)
    return final


def backups() -> list[Path]:
    """The backups, oldest first (their names sort by time)."""
    return sorted(BACKUPS.glob("flaskapp-*.tar.gz")) if BACKUPS.is_dir() else []


def prune(settings: Settings, say: Say) -> None:
    kept = backups()
    oldest = time.time() - settings.backup_max_age_days * 86400
    for index, path in enumerate(kept[:-1]):  # the newest stays, whatever its age
        if len(kept) - index > settings.backup_keep or path.stat().st_mtime < oldest:
            path.unlink()
            say(f"removed the old backup {path} (BACKUP_KEEP={settings.backup_keep}, "
                f"BACKUP_MAX_AGE_DAYS={settings.backup_max_age_days})")


def listing() -> list[str]:
    lines = []
    for path in backups():
        try:
            with tarfile.open(path, "r:gz") as tar:
                first = tar.next()  # the metadata is the first member
                is_meta = first is not None and first.name == META
                meta = json.loads(tar.extractfile(first).read(1 << 16)) if is_meta else {}
        except (tarfile.TarError, OSError, ValueError, zlib.error):
            meta = {}
        lines.append(f"{path.name}  {path.stat().st_size:>12}  flaskapp {meta.get('version', '?')}"
                     f"  from {meta.get('host', '?')}")
    return lines


def last_good() -> str:
    """For `flaskapp-site status`: the newest backup (only checked ones are kept), its age, and
    whether the last scheduled one failed."""
    found = backups()
    good = "none in " + str(BACKUPS)
    if found:
        age = (time.time() - found[-1].stat().st_mtime) / 3600
        good = f"{found[-1].name}, {age:.0f} hours ago ({len(found)} kept)"
    if processes.systemctl("is-failed", "--quiet", "flaskapp-backup.service").returncode == 0:
        good += "; the last backup FAILED: journalctl -u flaskapp-backup"
    return good


def restore(path: Path, prepare: Callable[[str], int], say: Say) -> None:
    """The backup's state and root's side in place of this host's, the app's processes
    stopped meanwhile (nginx answers 502 for that while); the state it replaced kept aside
    until the restored one serves. The caller then applies the restored site.conf. Refused
    before anything changes: what is not a backup, a corrupt one, one of a newer version."""
    installed = installed_version()
    # On disk (/var/tmp), not in /tmp, which may be a tmpfs: the state may be large.
    with tempfile.TemporaryDirectory(dir="/var/tmp") as scratch:
        meta, state = read(path, Path(scratch))
        version = str(meta.get("version", ""))
        if newer(version, installed):
            raise BackupError(f"it was made by flaskapp {version}, newer than the installed {installed}: "
                              "install that version (or a later one) first")
        check_state(state)
        app_data = Path(scratch, APP_DATA)
        if app_data.exists() and not declared_commands("restore"):
            raise BackupError("it holds the app's own data (its backup command's), and the installed "
                              "app declares no restore command to load it")
        say(f"restoring {path} (flaskapp {version}, made {meta.get('created')} on {meta.get('host')})")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        stopped = processes.loaded("flaskapp-job@*.timer", "active")
        if stopped:
            processes.systemctl("stop", *stopped)
        stopped += processes.stop_for_migration(say)
        processes.systemctl("stop", "flaskapp.socket", "flaskapp.service")
        incoming = STATE / f".restoring-{stamp}"
        aside = STATE.with_name(f"app.before-restore-{stamp}")
        try:
            with open(state, "rb") as stream:
                unpacked = run_as_service([*SNAPSHOT, "unpack", str(incoming)], stdin=stream)
            # No process of the app runs now: what the unpack left is checked, not trusted.
            if unpacked.returncode != 0 or not incoming.is_dir() or incoming.is_symlink():
                raise BackupError("its state could not be unpacked (above)")
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            processes.systemctl("start", "flaskapp.socket", "flaskapp.service", *stopped)
            raise
        os.rename(STATE, aside)
        os.rename(aside / incoming.name, STATE)
        put_back_root_side(path, say)
        # From here on this host has the backup's state: a failure says where the one before is.
        subprocess.run(["systemctl", "daemon-reload"], check=False)
        if app_data.exists():
            say("loading the app's own data: its restore command")
            with open(app_data, "rb") as stream:
                loaded = run_as_service([*DECLARED, "restore"], stdin=stream)
            if loaded.returncode != 0:
                raise RestoreFailed(f"the app's restore command failed (exit {loaded.returncode}, above); "
                                    f"the state before the restore is in {aside}")
    if newer(installed, version):
        say(f"the backup is of flaskapp {version}: running the installed version's upgrade commands")
        if prepare("upgrade") != 0:
            raise RestoreFailed(f"the upgrade commands failed on the restored state (above); the state "
                                f"before the restore is in {aside}")
    started = processes.systemctl("start", "flaskapp.socket", "flaskapp.service")
    if started.returncode != 0:
        raise RestoreFailed(f"flaskapp.service does not start on the restored state (journalctl -u "
                            f"flaskapp); the state before the restore is in {aside}")
    shutil.rmtree(aside)
    say(f"restored: flaskapp serves the state of {path.name}")


def put_back_root_side(path: Path, say: Say) -> None:
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            name = member.name.removeprefix("etc/")
            if name in ROOT_FILES:
                target = ETC / name
            elif name.startswith("systemd/") and name.count("/") == 1 and name.endswith(".conf"):
                DROP_INS.mkdir(parents=True, exist_ok=True)
                target = DROP_INS / name.removeprefix("systemd/")
            else:
                continue
            owner, group, mode = ROOT_FILES.get(name, ("root", "root", 0o644))
            if target.exists():
                stat = target.stat()
                owner, group, mode = stat.st_uid, stat.st_gid, stat.st_mode & 0o7777
            new = target.with_name(target.name + ".restoring")
            with open(private_file(new), "wb") as out:
                shutil.copyfileobj(tar.extractfile(member), out)
            shutil.chown(new, owner, group)
            os.chmod(new, mode)
            os.rename(new, target)
            say(f"restored {target}")
