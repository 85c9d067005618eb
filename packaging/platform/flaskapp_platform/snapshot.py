"""The app's side of a backup and a restore (flaskapp-site backup, verify-backup, restore):
run as the app's user in the service's sandbox (flaskapp_site.as_service), so that root never
opens what the app's user wrote, and a database the app holds open is read as SQLite means it
to be read.

    python -m flaskapp_platform.snapshot create        a tar of the state directory on stdout:
                                                       every SQLite database by SQLite's online
                                                       backup (a consistent copy while the app
                                                       writes), checked; the rest as files
    python -m flaskapp_platform.snapshot check         reads such a tar on stdin and checks it:
                                                       only files and directories by relative
                                                       names, each database passing
                                                       `PRAGMA integrity_check`; prints a summary
    python -m flaskapp_platform.snapshot unpack DIR    the same checks, while writing it into
                                                       DIR, a new directory in the state

A refusal says which member and why on stderr, and exits 2; nothing else is written.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

STATE = Path("/var/lib/flaskapp/app")
SQLITE_HEADER = b"SQLite format 3\x00"
# A database's companions: its copy holds what they held (WAL) or is consistent without them.
COMPANIONS = ("-wal", "-shm", "-journal")
# A restore in progress (flaskapp-site restore), and a backup's own copies: never part of a
# backup. The copies are made in the state directory, on its disk: /tmp may be a tmpfs
# (trixie's default), where a large database's copy would take its size in memory.
RESTORING = ".restoring-"
SCRATCH = ".backup-scratch-"


def scratch_dir(near: Path) -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix=SCRATCH, dir=near if near.is_dir() else None)
CHUNK = 1 << 20


class Refused(Exception):
    pass


def is_database(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def integrity(path: Path) -> str:
    """Of a copy (nothing else has it open): immutable, so that a database in WAL mode is read
    without making -wal and -shm files beside it."""
    connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        rows = connection.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as error:
        return str(error)
    finally:
        connection.close()
    return "ok" if rows == [("ok",)] else "; ".join(row[0] for row in rows[:5])


def copy_database(source: Path, dest: Path) -> None:
    """SQLite's online backup: one pass under a read lock (a writer in WAL mode goes on; in
    rollback mode it waits, for its busy timeout, as for any reader)."""
    reading = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    writing = sqlite3.connect(dest)
    try:
        reading.backup(writing)
    finally:
        writing.close()
        reading.close()


def state_files(root: Path) -> Iterator[Path]:
    """Every directory and file of the state, top down; links and other kinds skipped (said)."""
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        subdirs[:] = sorted(d for d in subdirs
                            if not (here == root and d.startswith((RESTORING, SCRATCH))))
        for name in [*subdirs, *sorted(files)]:
            path = here / name
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                print(f"flaskapp: backup: skipped {path} (not a file or directory)", file=sys.stderr)
                if stat.S_ISLNK(mode) and name in subdirs:
                    subdirs.remove(name)
                continue
            yield path


def create(root: Path, out: IO[bytes]) -> None:
    files = list(state_files(root))
    database_paths = {path for path in files if path.is_file() and is_database(path)}
    skipped = {Path(str(db) + suffix) for db in database_paths for suffix in COMPANIONS}
    with scratch_dir(root) as scratch, tarfile.open(fileobj=out, mode="w|") as tar:
        for path in files:
            name = str(path.relative_to(root))
            if path in skipped:
                continue
            if path in database_paths:
                copy = Path(scratch, "copy.db")
                copy_database(path, copy)
                problem = integrity(copy)
                if problem != "ok":
                    raise Refused(f"{name}: its copy fails SQLite's integrity check: {problem}")
                info = tar.gettarinfo(str(copy), arcname=name)
                info.mode = os.lstat(path).st_mode & 0o777
                with open(copy, "rb") as data:
                    tar.addfile(info, data)
                copy.unlink()
            else:
                tar.add(str(path), arcname=name, recursive=False)


def member_name(member: tarfile.TarInfo) -> PurePosixPath:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or not name.parts or name.parts[0] in ("", "."):
        raise Refused(f"{member.name!r}: not a relative path inside the state")
    if not (member.isreg() or member.isdir()):
        raise Refused(f"{member.name!r}: a link or device, not a file or directory")
    return name


def read(source: IO[bytes], into: Path | None) -> dict:
    """Checks (and with `into`, writes) every member of the tar on `source`."""
    databases, count = [], 0
    with scratch_dir(STATE) as scratch:
        try:
            with tarfile.open(fileobj=source, mode="r|") as tar:
                for member in tar:
                    name = member_name(member)
                    count += 1
                    target = (into / name) if into else None
                    if member.isdir():
                        if target:
                            target.mkdir(mode=0o700, exist_ok=True)
                        continue
                    copy = target or Path(scratch, "member")
                    data = tar.extractfile(member)
                    # O_EXCL|O_NOFOLLOW: a name given twice, or a directory's name reused, is refused.
                    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                 member.mode & 0o777 | 0o600 if target else 0o600)
                    with os.fdopen(fd, "wb") as out:
                        while chunk := data.read(CHUNK):
                            out.write(chunk)
                    if is_database(copy):
                        problem = integrity(copy)
                        if problem != "ok":
                            raise Refused(f"{member.name!r}: a database that fails SQLite's "
                                          f"integrity check: {problem}")
                        databases.append(str(name))
                    if not target:
                        copy.unlink()
        except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
            raise Refused(f"not a readable archive of the state: {error}") from None
    return {"members": count, "databases": databases}


def main(argv: list[str]) -> int:
    try:
        if argv == ["create"]:
            create(STATE, sys.stdout.buffer)
        elif argv == ["check"]:
            print(json.dumps(read(sys.stdin.buffer, None)))
        elif len(argv) == 2 and argv[0] == "unpack":
            into = Path(argv[1])
            if into.parent != STATE or not into.name.startswith(RESTORING):
                raise Refused(f"{into}: not a restore directory in {STATE}")
            into.mkdir(mode=0o700)
            print(json.dumps(read(sys.stdin.buffer, into)))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Refused as error:
        print(f"flaskapp: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
