"""`flaskapp-site backup` of a 1 GB SQLite database in the app's state, with requests served
throughout: its time, the backup's size, the peak memory of its processes (root's side and the
app's snapshot, sampled every 0.2 s), and the requests served and failed meanwhile.

Part of `make bench` (benchmarks/run.py); alone: `python -m benchmarks.backup --deb DEB`
prints its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from tests.e2e.conftest import ON_DEMAND, booted_host
from tests.e2e.host import Host
from tests.e2e.image import image_root
from tests.e2e.load import throughout

DATABASE = "/var/lib/flaskapp/app/bench.db"
# About 1 GB: a million rows of 1000 bytes, half random (a real database compresses somewhat).
MAKE_DATABASE = (
    "import sqlite3; db = sqlite3.connect('" + DATABASE + "'); "
    "db.execute('PRAGMA journal_mode=WAL'); db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)'); "
    "db.execute(\"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000000) "
    "INSERT INTO t SELECT x, hex(randomblob(250)) || zeroblob(500) FROM c\"); db.commit()"
)
# The backup's processes: root's flaskapp-site, and the snapshot it runs as the app.
BACKUP_PROCESSES = ("flaskapp-site backup", "flaskapp_platform.snapshot")


def rss_mib(host: Host) -> float:
    total = host.run("sh", "-c", "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null | "
                     f"grep -qE '{'|'.join(BACKUP_PROCESSES)}' && awk '/^VmRSS/ {{ print $2 }}' $p/status; "
                     "done | awk '{ s += $1 } END { print s + 0 }'", check=False).stdout.strip()
    return float(total or 0) / 1024


def measure_backup(host: Host) -> dict:
    """On a host with the package installed and serving."""
    host.run("runuser", "-u", "flaskapp", "--", "/opt/venvs/flaskapp/bin/python", "-c", MAKE_DATABASE,
             timeout=900)
    size = int(host.run("stat", "-c", "%s", DATABASE).stdout)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib(host))
            time.sleep(0.2)

    took = {}

    def backup() -> None:
        sampler = threading.Thread(target=sample)
        sampler.start()
        began = time.monotonic()
        host.run("flaskapp-site", "backup", timeout=1800)
        took["seconds"] = time.monotonic() - began
        done.set()
        sampler.join()

    load = throughout(f"http://{host.address}/", backup, max_seconds=1800, connections=4)
    written = host.run("sh", "-c", "stat -c %s /var/backups/flaskapp/flaskapp-*.tar.gz").stdout.split()
    return {"database_bytes": size, "seconds": took["seconds"], "backup_bytes": int(written[-1]),
            "peak_mib": peak[0], "load": load}


def report(result: dict) -> list[str]:
    load = result["load"]
    p99 = load.latency_ms.get("p99", 0)
    served = f"{load.requests:,} ({load.requests_per_second:,.0f}/s, p99 {p99:.0f} ms)"
    return [
        "## A backup of a 1 GB database (`flaskapp-site backup`, under load)",
        "",
        "| database | backup time | backup file | peak memory of the backup's processes | "
        "requests served meanwhile (4 connections) | failed |",
        "|---|---|---|---|---|---|",
        f"| {result['database_bytes'] / 1e9:.2f} GB (SQLite, WAL) | {result['seconds']:.0f} s "
        f"| {result['backup_bytes'] / 1e9:.2f} GB | {result['peak_mib']:.0f} MiB "
        f"| {served} | {load.failed} |",
        "",
        "The time is SQLite's online backup of the database, the snapshot's tar, gzip (level 6) "
        "and the check of the file written (read back whole, `integrity_check` on the copy). "
        "Memory sampled every 0.2 s: the copies go through files on disk, not memory.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", type=Path, required=True)
    args = parser.parse_args()
    deb = args.deb.resolve()
    workdir = Path(tempfile.mkdtemp(prefix="flaskapp-bench-backup-"))
    with booted_host(image_root(deb, ON_DEMAND), workdir / "host", "bench-backup") as host:
        host.apt_install(deb)
        host.wait_until_serving(timeout=60)
        print("\n".join(report(measure_backup(host))))


if __name__ == "__main__":
    main()
