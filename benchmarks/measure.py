"""What the benchmarks measure with: wrk loads, a unit's CPU time and memory, table rows."""

from __future__ import annotations

import os
import resource
import time

from tests.e2e.host import Host
from tests.e2e.load import LoadResult, load

SECONDS = 10
CONNECTIONS = 32
RUNS = 3

TUTORIAL_PORT = 8081  # nginx → localhost:5000, as the tutorial's site
CEILING_PORT = 8082  # nginx `return 200`
TUTORIAL_SITE = f"""server {{
    listen {TUTORIAL_PORT};
    location / {{
        proxy_pass http://localhost:5000;
    }}
}}
server {{
    listen {CEILING_PORT};
    location / {{
        return 200 "Hello World!";
    }}
}}
"""
# The tutorial's `gunicorn --bind 0.0.0.0:5000 app:app &`, as root, from the same venv.
TUTORIAL_GUNICORN = ["systemd-run", "--unit=tutorial-gunicorn", "--working-directory=/root",
                     "/opt/venvs/flaskapp/bin/gunicorn", "--bind", "0.0.0.0:5000", "flaskapp:create_app()"]


def measure(url: str, runs: int = RUNS) -> LoadResult:
    """The median run (by requests/s) of `runs` loads of SECONDS each."""
    return measure_alternating({url: url}, runs)[url]


def measure_alternating(urls: dict[str, str], runs: int = RUNS, cpus: str | None = None,
                        headers: tuple[str, ...] = ()) -> dict[str, LoadResult]:
    """For each name → url, the median run (by requests/s) of `runs` loads of SECONDS each,
    the urls taking turns (so that a slow minute of the machine hits them all alike); wrk on
    `cpus` alone when given."""
    results: dict[str, list[LoadResult]] = {name: [] for name in urls}
    for _ in range(runs):
        for name, url in urls.items():
            with load(url, SECONDS, CONNECTIONS, headers=headers, cpus=cpus) as result:
                pass
            results[name].append(result)
    return {name: sorted(runs_of, key=lambda r: r.requests_per_second)[len(runs_of) // 2]
            for name, runs_of in results.items()}


def unit_pids(host: Host, unit: str) -> list[str]:
    """A service's main process and its children (gunicorn's or nginx's workers)."""
    master = host.service(unit).main_pid
    return [str(master), *host.file(f"/proc/{master}/task/{master}/children").content.split()]


def rss_kib(host: Host, pid: str) -> int:
    """A process's resident memory (VmRSS), in KiB."""
    status = host.file(f"/proc/{pid}/status").content
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def service_rss_mib(host: Host, unit: str) -> float:
    """Resident memory of every process of a unit (RSS summed, shared pages counted again)."""
    return sum(rss_kib(host, pid) for pid in unit_pids(host, unit)) / 1024


def unit_cpu_seconds(host: Host, unit: str) -> float:
    """CPU time (user + system) the processes of a unit have used so far."""
    ticks = 0
    for pid in unit_pids(host, unit):
        # Fields after the command name: state is field 3, utime and stime are 14 and 15.
        fields = host.file(f"/proc/{pid}/stat").content.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_per_request(host: Host, url: str, app_unit: str) -> tuple[dict[str, float], LoadResult]:
    """Microseconds of CPU per request spent by the app server, nginx and wrk, over one load."""
    units = {"gunicorn": app_unit, "nginx": "nginx.service"}
    before = {name: unit_cpu_seconds(host, unit) for name, unit in units.items()}
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with load(url, SECONDS, CONNECTIONS) as result:
        pass
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = {name: unit_cpu_seconds(host, unit) - before[name] for name, unit in units.items()}
    seconds["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
    return {name: used / result.requests * 1e6 for name, used in seconds.items()}, result


def set_gunicorn_args(host: Host, args: str) -> None:
    env = host.file("/etc/flaskapp/flaskapp.env")
    lines = [line for line in env.content.splitlines() if not line.startswith("GUNICORN_CMD_ARGS=")]
    if args:
        lines.append(f"GUNICORN_CMD_ARGS={args}")
    env.write("\n".join(lines) + "\n")
    host.run("systemctl", "restart", "flaskapp")
    host.wait_until_serving(path="/healthz", body=None)  # never redirected to HTTPS
    time.sleep(2)  # all workers booted


def row(name: str, result: LoadResult, note: str = "") -> str:
    return (f"| {name} | {result.requests_per_second:,.0f} | {result.latency_ms.get('p50', 0):.1f} | "
            f"{result.latency_ms.get('p99', 0):.1f} | {result.failed} | {note} |")


def event_row(name: str, result: LoadResult) -> str:
    return (f"| {name} | {result.requests:,} | {result.failed:,} | "
            f"{result.latency_ms.get('p99', 0):.0f} | {result.latency_ms.get('max', 0):.0f} |")


