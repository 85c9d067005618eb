"""The app's side of a backup: a consistent copy of a database being written, and an unpack
that writes only files and directories inside the directory it was given."""

from __future__ import annotations

import io
import sqlite3
import tarfile
import threading
from pathlib import Path

import pytest
from flaskapp_platform import snapshot


def tar_of(**members: bytes) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


def test_a_database_written_meanwhile_is_copied_whole_and_the_rest_as_files(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "instance").mkdir(parents=True)
    (state / "instance/notes.txt").write_text("kept\n")
    database = state / "instance/app.db"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE row (n INTEGER PRIMARY KEY)")
    stop, writing = threading.Event(), threading.Event()

    def write() -> None:
        with sqlite3.connect(database, timeout=30) as db:
            for n in range(1, 20_000):
                if stop.is_set():
                    return
                db.execute("INSERT INTO row VALUES (?)", (n,))
                db.commit()
                if n == 100:
                    writing.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert writing.wait(timeout=30)
    out = io.BytesIO()
    snapshot.create(state, out)
    stop.set()
    writer.join()

    out.seek(0)
    restored = tmp_path / "restored"
    restored.mkdir()
    summary = snapshot.read(out, restored)
    assert summary["databases"] == ["instance/app.db"]
    assert (restored / "instance/notes.txt").read_text() == "kept\n"
    # The copy holds what the WAL held: no companion files.
    assert sorted(path.name for path in (restored / "instance").iterdir()) == ["app.db", "notes.txt"]
    rows = sqlite3.connect(restored / "instance/app.db").execute("SELECT n FROM row ORDER BY n").fetchall()
    # Every row up to the copy's moment, none missing in between (a consistent snapshot).
    assert len(rows) >= 100 and [n for (n,) in rows] == list(range(1, len(rows) + 1))


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/../../b", "./"])
def test_an_unpack_refuses_names_outside_its_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(snapshot.Refused, match="not a relative path"):
        snapshot.read(tar_of(**{name: b"x"}), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_unpack_refuses_links_and_devices(tmp_path: Path) -> None:
    for kind in (tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            info = tarfile.TarInfo("evil")
            info.type, info.linkname = kind, "/etc/shadow"
            tar.addfile(info)
        out.seek(0)
        with pytest.raises(snapshot.Refused, match="a link or device"):
            snapshot.read(out, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_database_that_fails_its_integrity_check_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.db"
    with sqlite3.connect(good) as db:
        db.execute("CREATE TABLE t (x)")
        db.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
    data = bytearray(good.read_bytes())
    data[4096:4096 + 12] = b"\xff" * 12  # the table's root page: its header overwritten
    with pytest.raises(snapshot.Refused, match="integrity check"):
        snapshot.read(tar_of(**{"app.db": bytes(data)}), None)
