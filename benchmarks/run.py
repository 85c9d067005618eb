"""make bench: the packaged stack against the tutorial's, side by side on one booted host.

Boots a test host (as the e2e tests do), installs the .deb, and measures through nginx
with wrk from this machine across the veth:
- throughput and latency: the packaged defaults, other gunicorn worker settings, the
  tutorial's stack (gunicorn --bind 0.0.0.0:5000 with one sync worker behind an nginx site
  proxying to localhost:5000) and nginx answering by itself (the proxy's ceiling);
- failed requests and latency during restart, reload, upgrade and a killed process, with
  the tutorial's stop-and-start restart beside them;
- CPU per request in gunicorn, nginx and wrk, and the throughput limit it implies;
- install time, .deb size, build time and memory;
- a rolling upgrade of three app servers behind HAProxy with deploy/'s upgrade.yml.
Writes docs/benchmarks.md. Every load is bounded by wrk's --duration.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import REPO
from tests.e2e.builds import build_newer_deb
from tests.e2e.conftest import ON_DEMAND, booted_host
from tests.e2e.fleet import APP_SERVERS, running_fleet
from tests.e2e.host import Host
from tests.e2e.image import image_root
from tests.e2e.load import LoadResult, during, load, throughout

SECONDS = 10
CONNECTIONS = 32
RUNS = 3
EVENT_SECONDS = 8

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

CPUS = len(os.sched_getaffinity(0))  # the test host sees the same CPUs

# gunicorn settings tried against the packaged default (GUNICORN_CMD_ARGS overrides the config).
VARIANTS = {
    f"sync, {CPUS} workers (one per CPU)": f"--workers={CPUS}",
    f"sync, {2 * CPUS + 1} workers (2 × CPUs + 1, gunicorn's rule of thumb)": f"--workers={2 * CPUS + 1}",
    f"gthread, {CPUS + 1} workers × 4 threads": "--worker-class=gthread --threads=4",
    f"gthread, {2 * CPUS + 1} workers × 2 threads":
        f"--worker-class=gthread --workers={2 * CPUS + 1} --threads=2",
}


def restart_like_the_tutorial(host: Host) -> None:
    """Stop gunicorn and start it again: its listening socket closes in between."""
    host.run("systemctl", "stop", "tutorial-gunicorn")
    host.run(*TUTORIAL_GUNICORN)


def measure(url: str, runs: int = RUNS) -> LoadResult:
    """The median run (by requests/s) of `runs` loads of SECONDS each."""
    results = []
    for _ in range(runs):
        with load(url, SECONDS, CONNECTIONS) as result:
            pass
        results.append(result)
    results.sort(key=lambda r: r.requests_per_second)
    return results[len(results) // 2]


def unit_pids(host: Host, unit: str) -> list[str]:
    """A service's main process and its children (gunicorn's or nginx's workers)."""
    master = host.service(unit).main_pid
    return [str(master), *host.file(f"/proc/{master}/task/{master}/children").content.split()]


def service_rss_mib(host: Host, unit: str) -> float:
    """Resident memory of every process of a unit (RSS summed, shared pages counted again)."""
    kib = 0
    for pid in unit_pids(host, unit):
        status = host.file(f"/proc/{pid}/status").content
        kib += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    return kib / 1024


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
    host.wait_until_serving()
    time.sleep(2)  # all workers booted


def row(name: str, result: LoadResult, note: str = "") -> str:
    return (f"| {name} | {result.requests_per_second:,.0f} | {result.latency_ms.get('p50', 0):.1f} | "
            f"{result.latency_ms.get('p99', 0):.1f} | {result.failed} | {note} |")


def event_row(name: str, result: LoadResult) -> str:
    return (f"| {name} | {result.requests:,} | {result.failed:,} | "
            f"{result.latency_ms.get('p99', 0):.0f} | {result.latency_ms.get('max', 0):.0f} |")


def cpu_row(name: str, used: dict[str, float], result: LoadResult) -> str:
    total = sum(used.values())
    return (f"| {name} | {result.requests_per_second:,.0f} | {used['gunicorn']:.0f} | {used['nginx']:.0f} | "
            f"{used['wrk']:.0f} | {total:.0f} | {CPUS * 1e6 / total:,.0f} req/s |")


def rolling_upgrade(image: Path, deb: Path, newer: Path, workdir: Path) -> dict:
    """site.yml with `deb`, then upgrade.yml to `newer` under load through the balancer."""
    workdir.mkdir()
    with running_fleet(image, [deb, newer], workdir) as fleet:
        setup = fleet.playbook("site.yml", flaskapp_version=deb.name.split("_")[1])
        if setup.returncode != 0:
            raise RuntimeError(f"site.yml failed:\n{setup.stdout}{setup.stderr}")
        timing = {}

        def upgrade() -> None:
            started = time.monotonic()
            run = fleet.playbook("upgrade.yml", flaskapp_version=newer.name.split("_")[1])
            timing["seconds"] = time.monotonic() - started
            if run.returncode != 0:
                raise RuntimeError(f"upgrade.yml failed:\n{run.stdout}{run.stderr}")

        result = throughout(fleet.url, upgrade, 600, connections=CONNECTIONS)
    return {"seconds": timing["seconds"], "load": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=REPO / "docs/benchmarks.md")
    args = parser.parse_args()
    deb = args.deb.resolve()

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="flaskapp-bench-"))
    newer = build_newer_deb(REPO, workdir)
    build_seconds = time.monotonic() - started
    image = image_root(deb, ON_DEMAND)

    with booted_host(image, workdir / "host", "bench") as host:
        url = f"http://{host.address}/"
        install_started = time.monotonic()
        host.apt_install(deb)
        host.wait_until_serving(timeout=60)
        install_seconds = time.monotonic() - install_started
        time.sleep(2)
        idle_mib = service_rss_mib(host, "flaskapp.service")

        print("throughput: packaged default", flush=True)
        packaged = measure(url)
        cpu = {"packaged defaults": cpu_per_request(host, url, "flaskapp.service")}
        with load(url, SECONDS, CONNECTIONS):
            time.sleep(SECONDS / 2)
            loaded_mib = service_rss_mib(host, "flaskapp.service")

        variants = {}
        for name, gunicorn_args in VARIANTS.items():
            print(f"throughput: {name}", flush=True)
            set_gunicorn_args(host, gunicorn_args)
            variants[name] = measure(url)
            cpu[f"packaged, {name}"] = cpu_per_request(host, url, "flaskapp.service")
        set_gunicorn_args(host, "")

        print("throughput: tutorial stack and nginx ceiling", flush=True)
        host.file("/etc/nginx/sites-available/tutorial").write(TUTORIAL_SITE)
        host.run("ln", "-s", "../sites-available/tutorial", "/etc/nginx/sites-enabled/tutorial")
        host.run("systemctl", "reload", "nginx")
        host.run(*TUTORIAL_GUNICORN)
        time.sleep(2)
        tutorial_url = f"http://{host.address}:{TUTORIAL_PORT}/"
        tutorial = measure(tutorial_url)
        cpu["tutorial"] = cpu_per_request(host, tutorial_url, "tutorial-gunicorn.service")
        ceiling = measure(f"http://{host.address}:{CEILING_PORT}/")

        print("events under load", flush=True)
        events = {
            "`systemctl restart flaskapp`": during(
                url, lambda: host.run("systemctl", "restart", "flaskapp"), EVENT_SECONDS, 1, CONNECTIONS),
            "`systemctl reload flaskapp`": during(
                url, lambda: host.run("systemctl", "reload", "flaskapp"), EVENT_SECONDS, 1, CONNECTIONS),
            "`apt install` of a newer version": during(
                url, lambda: host.apt_install(newer), EVENT_SECONDS + 6, 1, CONNECTIONS),
            "`kill -9` of the gunicorn master": during(
                url, lambda: host.kill(host.service("flaskapp").main_pid),
                EVENT_SECONDS, 1, CONNECTIONS),
        }
        time.sleep(3)

        def kill_every_worker() -> None:
            for worker in unit_pids(host, "flaskapp.service")[1:]:
                host.kill(worker)
                time.sleep(0.5)

        events["`kill -9` of every worker, 0.5 s apart"] = during(
            url, kill_every_worker, EVENT_SECONDS, 1, CONNECTIONS)
        events["tutorial: gunicorn stopped and started again"] = during(
            tutorial_url, lambda: restart_like_the_tutorial(host), EVENT_SECONDS, 1, CONNECTIONS)

    print("fleet: rolling upgrade of three app servers", flush=True)
    rollout = rolling_upgrade(image, deb, newer, workdir / "fleet")

    deb_kib = deb.stat().st_size / 1024
    ratio = packaged.requests_per_second / tutorial.requests_per_second
    # What the CPUs allow at the packaged stack's CPU per request, against the tutorial.
    limit_ratio = CPUS * 1e6 / sum(cpu["packaged defaults"][0].values()) / tutorial.requests_per_second
    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benchmarks/run.py`); do not edit by hand.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; package: `{deb.name}`",
        f"- machine: {CPUS} CPUs ({cpu_model}), "
        f"kernel {platform.release()}; the load generator (wrk) shares these CPUs",
        f"- host: Debian 12 booted with systemd-nspawn, reached over a veth; wrk "
        f"{CONNECTIONS} connections, {SECONDS} s per run, median of {RUNS} runs",
        "",
        "## Throughput through nginx (`GET /`)",
        "",
        "| stack | req/s | p50 ms | p99 ms | failed | note |",
        "|---|---:|---:|---:|---:|---|",
        row(f"**packaged defaults** (sync, CPUs + 1 = {CPUS + 1} workers, unix socket)", packaged,
            f"**{ratio:.2f}× the tutorial**"),
        *(row(f"packaged, {name}", result) for name, result in variants.items()),
        row("tutorial: gunicorn `--bind 0.0.0.0:5000`, 1 sync worker, nginx → localhost:5000",
            tutorial),
        row("nginx `return 200` (the proxy's ceiling)", ceiling),
        "",
        "## Where the CPU goes (µs of CPU per request, one more run of each)",
        "",
        "| stack | req/s | gunicorn | nginx | wrk | total | the CPUs' limit at this cost |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(cpu_row(name, used, result) for name, (used, result) in cpu.items()),
        "",
        "## Failed requests during operations (under load)",
        "",
        "| event | requests | failed | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        *(event_row(name, result) for name, result in events.items()),
        "",
        "## A fleet: rolling upgrade behind HAProxy",
        "",
        f"`deploy/upgrade.yml` on {len(APP_SERVERS)} app servers (booted hosts on one bridge, Ansible over",
        "ssh from this machine), one at a time: drain, upgrade, check `/healthz`, back in the pool;",
        "wrk through the balancer from just before the playbook starts until it ends.",
        "",
        "| what | value |",
        "|---|---|",
        f"| rollout time (`ansible-playbook upgrade.yml`) | {rollout['seconds']:.0f} s |",
        f"| requests through the balancer during it | {rollout['load'].requests:,} |",
        f"| failed | {rollout['load'].failed} |",
        f"| p99 / max latency | {rollout['load'].latency_ms.get('p99', 0):.1f} ms / "
        f"{rollout['load'].latency_ms.get('max', 0):.0f} ms |",
        "",
        "## Size, time, memory",
        "",
        "| what | value |",
        "|---|---|",
        f"| `.deb` size | {deb_kib:,.0f} KiB |",
        f"| `make deb` (a clean build, dependencies installed) | {build_seconds:.0f} s |",
        f"| `apt install ./flaskapp_*.deb` → first `Hello World!` (pulls nginx, python3) | "
        f"{install_seconds:.1f} s |",
        f"| flaskapp.service memory, idle (RSS of master + workers) | {idle_mib:.0f} MiB |",
        f"| flaskapp.service memory, under load | {loaded_mib:.0f} MiB |",
        "",
        "## Reading these numbers",
        "",
        "- *failed* is what wrk counts: responses other than 2xx/3xx plus broken connections.",
        f"- Everything shares {CPUS} CPUs: wrk, nginx and gunicorn. Flask and gunicorn's Python",
        "  cost most of each request, so throughput is the CPUs divided by the CPU per request",
        "  (the last column), whatever the worker settings. The tutorial's one sync worker",
        "  already keeps one CPU busy; the packaged stack can add only what nginx and wrk leave",
        f"  of the others: at its CPU per request it can reach about {limit_ratio:.1f}× the tutorial here.",
        "- The settings differ little in throughput (a few percent, run to run) and a lot in",
        "  p99: sync workers take one request at a time, so none waits behind another's on a",
        "  busy CPU, while gthread workers share each one among 4 threads and give up to several",
        "  times the tail. gthread spends more CPU in gunicorn and less in nginx (connections to",
        "  it stay open), about the same in total. Hence the default: sync, CPUs + 1 workers.",
        "  Apps that wait on I/O want gthread or more workers: see the comments in",
        "  `/etc/flaskapp/gunicorn.conf.py`.",
        "- The tutorial's restart closes its listening socket: nginx answers 502 at once, and since",
        "  `localhost` resolves to 127.0.0.1 and ::1 (gunicorn listens on IPv4 only), nginx marks",
        "  both failed and stops trying them for `fail_timeout` (10 s), longer than gunicorn takes",
        "  to come back. The packaged stack's socket stays open in systemd: requests wait instead.",
        "- A worker killed with SIGKILL after it sent the response headers cannot be retried by",
        "  nginx: those few requests fail (the row with every worker killed). A killed master",
        "  fails none: systemd stops its workers gracefully and restarts it while the socket",
        "  queues requests.",
        "",
        f"Total benchmark time: {time.monotonic() - started:.0f} s.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    subprocess.run(["rm", "-rf", str(workdir)], check=False)


if __name__ == "__main__":
    main()
