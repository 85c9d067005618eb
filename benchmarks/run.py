"""make bench: the packaged stack against the tutorial's, side by side on booted hosts.

Boots test hosts (as the e2e tests do), installs the .deb, and measures through nginx with
wrk from this machine across a veth:
- per vCPU (benchmarks/one_vcpu.py): a host pinned to one CPU, wrk to another: throughput
  and latency of the packaged defaults, the tutorial's stack and nginx alone; HTTPS with
  keep-alive and with a handshake per request; memory for 1, 2 and 4 vCPUs' worker counts;
- on shared CPUs (wrk, nginx and gunicorn together): other gunicorn worker settings, and the
  CPU per request in gunicorn, nginx and wrk;
- failed requests and latency during restart, reload, upgrade and a killed process, with
  the tutorial's stop-and-start restart beside them, and a picture of them
  (benchmarks/timeline.py: docs/restarts.png);
- a rolling upgrade of three app servers behind HAProxy (benchmarks/fleet.py);
- `apt install` → first 200 on a bare host and on one with nginx and python3, and where
  the time goes (benchmarks/install.py); .deb size, build time;
- a backup of a 1 GB database under load: time, size, peak memory (benchmarks/backup.py).
Writes docs/benchmarks.md. Every load is bounded by wrk's --duration (or a count and time).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import REPO
from tests.e2e.builds import build_newer_deb
from tests.e2e.conftest import ON_DEMAND, booted_host
from tests.e2e.fleet import APP_SERVERS
from tests.e2e.host import Host
from tests.e2e.image import image_root
from tests.e2e.load import LoadResult, during, load

from .backup import measure_backup
from .backup import report as backup_report
from .fleet import rolling_upgrade
from .install import measure_install
from .install import report as install_report
from .measure import (
    CEILING_PORT,
    CONNECTIONS,
    RUNS,
    SECONDS,
    TUTORIAL_GUNICORN,
    TUTORIAL_PORT,
    TUTORIAL_SITE,
    cpu_per_request,
    event_row,
    measure,
    row,
    service_rss_mib,
    set_gunicorn_args,
    unit_pids,
)
from .one_vcpu import CLIENT_CPU, SERVER_CPU, WORKERS_PER_VCPUS, measure_one_vcpu
from .timeline import draw, timeline_during

EVENT_SECONDS = 8
TIMELINE_SECONDS = 14
TIMELINE_PNG = "restarts.png"


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


def cpu_row(name: str, used: dict[str, float], result: LoadResult) -> str:
    total = sum(used.values())
    return (f"| {name} | {result.requests_per_second:,.0f} | {used['gunicorn']:.0f} | {used['nginx']:.0f} | "
            f"{used['wrk']:.0f} | {total:.0f} | {CPUS * 1e6 / total:,.0f} req/s |")


def change_row(name: str, changed: LoadResult, tutorial: LoadResult) -> str:
    ratio = changed.requests_per_second / tutorial.requests_per_second
    return (f"| {name} | {changed.requests_per_second:,.0f} | {changed.latency_ms.get('p99', 0):.1f} | "
            f"{tutorial.requests_per_second:,.0f} | {ratio:.2f}× |")


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
    newest = build_newer_deb(REPO, workdir / "newest", suffix="+e2e2")  # after build_newer_deb's +e2e1
    image = image_root(deb, ON_DEMAND)

    with booted_host(image, workdir / "host", "bench") as host:
        url = f"http://{host.address}/"
        host.apt_install(deb)
        host.wait_until_serving(timeout=60)
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

        print("timelines", flush=True)
        timelines = {
            "packaged: systemctl restart flaskapp": timeline_during(
                url, lambda: host.run("systemctl", "restart", "flaskapp"), TIMELINE_SECONDS),
            "packaged: apt install of a newer version": timeline_during(
                url, lambda: host.apt_install(newest), TIMELINE_SECONDS),
            "tutorial: gunicorn stopped and started again": timeline_during(
                tutorial_url, lambda: restart_like_the_tutorial(host), TIMELINE_SECONDS),
        }
        draw(timelines, TIMELINE_SECONDS, args.out.parent / TIMELINE_PNG)

        print("a backup of a 1 GB database, under load", flush=True)
        backup = measure_backup(host)

    print("one vCPU, clients outside it", flush=True)
    one = measure_one_vcpu(image, deb, workdir / "one-vcpu")
    one_ratio = one.http["packaged"].requests_per_second / one.http["tutorial"].requests_per_second
    proxy_headroom = one.http["nginx alone"].requests_per_second / one.http["packaged"].requests_per_second

    print("install time", flush=True)
    install = measure_install(image, deb, workdir / "install")

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
        f"kernel {platform.release()}",
        f"- hosts: Debian booted with systemd-nspawn, reached over a veth; wrk "
        f"{CONNECTIONS} connections, {SECONDS} s per run, median of {RUNS} runs",
        "",
        "## Per vCPU: a 1-vCPU server, its clients outside it (`GET /`)",
        "",
        f"The host pinned to CPU {SERVER_CPU} (`systemd-nspawn --cpu-affinity`), wrk to CPU {CLIENT_CPU}",
        "(`taskset`), as a real server's clients are on other machines: each row is what one vCPU",
        f"serves. The stacks take turns, median of {RUNS} runs each; the packaged defaults give",
        f"{WORKERS_PER_VCPUS[1]} workers on 1 vCPU.",
        "",
        "| stack | req/s per vCPU | p50 ms | p99 ms | failed | note |",
        "|---|---:|---:|---:|---:|---|",
        row("**packaged defaults**", one.http["packaged"], f"**{one_ratio:.2f}× the tutorial**"),
        row("tutorial: gunicorn `--bind 0.0.0.0:5000`, 1 sync worker, nginx → localhost:5000",
            one.http["tutorial"]),
        row("nginx `return 200` (the proxy's ceiling)", one.http["nginx alone"]),
        "",
        "## Per vCPU: where a request's CPU goes (each change alone, against the tutorial)",
        "",
        "Each row changes one thing on the 1-vCPU host, then measures it taking turns with the",
        "tutorial's stack (so each ratio compares runs of the same minutes). Only the packaged",
        "defaults are what the package ships.",
        "",
        "| change | req/s per vCPU | p99 ms | the tutorial then | ratio |",
        "|---|---:|---:|---:|---:|",
        *(change_row(name, changed, tutorial) for name, (changed, tutorial) in one.changes.items()),
        "",
        "## HTTPS per vCPU (the same host, `TLS=own`, an ECDSA P-256 certificate)",
        "",
        "Keep-alive: requests on open TLS connections. A new TLS handshake per request: wrk sends",
        "`Connection: close`, so every request is a new connection and a full TLS 1.3 handshake.",
        "nginx's ceiling: a server with the same certificate answering by itself.",
        "",
        "| stack | req/s per vCPU | p50 ms | p99 ms | failed | note |",
        "|---|---:|---:|---:|---:|---|",
        *(row(name, result) for name, result in one.https.items()),
        "",
        "## Memory of flaskapp.service (MiB, RSS)",
        "",
        "The worker counts the defaults give (CPUs + 1) on 1, 2 and 4 vCPUs, set on the 1-vCPU",
        "host; under load: wrk over HTTPS. What a 1 GiB VM has left: 1024 MiB minus the RSS of",
        "every process on the host (systemd, journald, nginx, flaskapp; shared pages counted once",
        "per process, so it is an underestimate of what is free).",
        "",
        "| vCPUs (workers) | per worker, idle | total, idle | per worker, under load | total, under load "
        "| a 1 GiB VM has left |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {vcpus} ({WORKERS_PER_VCPUS[vcpus]}) | {m['idle worker']:.0f} | {m['idle total']:.0f} | "
          f"{m['loaded worker']:.0f} | {m['loaded total']:.0f} | {m['1 GiB left']:.0f} |"
          for vcpus, m in one.memory.items()),
        "",
        f"## Shared CPUs: wrk, nginx and gunicorn on the same {CPUS} CPUs (`GET /`)",
        "",
        "What a laptop or a CI machine shows: wrk's own CPU caps every row, so read the ratios",
        "with care; the per-vCPU table above is the server's.",
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
        f"![Requests served and failed per 100 ms across a restart and an upgrade of the packaged "
        f"stack, and the tutorial's stop-and-start]({TIMELINE_PNG})",
        "",
        "Above: requests served (green) and failed (red) per 100 ms, 8 clients on keep-alive",
        "connections (Python's requests: fewer requests than wrk's), the event 1 s in. Below: wrk.",
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
        *install_report(install),
        *backup_report(backup),
        "## Size, time, memory",
        "",
        "| what | value |",
        "|---|---|",
        f"| `.deb` size | {deb_kib:,.0f} KiB |",
        f"| `make deb` (a clean build, dependencies installed) | {build_seconds:.0f} s |",
        f"| flaskapp.service memory, idle (RSS of master + workers) | {idle_mib:.0f} MiB |",
        f"| flaskapp.service memory, under load | {loaded_mib:.0f} MiB |",
        "",
        "## Reading these numbers",
        "",
        "- *failed* is what wrk counts: responses other than 2xx/3xx plus broken connections.",
        f"- Per vCPU, the packaged defaults serve {one_ratio:.2f}× what the tutorial's stack does:",
        "  both run the same Python for each request (gunicorn's sync worker and Flask), while",
        f"  nginx alone serves {proxy_headroom:.0f}× as many: what the packaged path adds around the",
        "  app (nginx's proxying, the unix socket, the sandbox) is a small part of a request's CPU.",
        "  The table of changes says what each part costs; none comes near 1.5× the tutorial, and",
        "  none is worth its price as a default (gthread's gain doubles the p99; the seccomp",
        "  filters are the sandbox).",
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
