"""A 1-vCPU server with its clients outside it: the host pinned to one CPU, wrk to another.

What a real server's numbers look like: wrk's own CPU no longer competes with nginx and
gunicorn, so each row says what one vCPU serves. Also HTTPS (keep-alive requests and new
handshakes per second, beside nginx's ceiling with the same certificate) and the service's
memory for the worker counts the defaults give on 1, 2 and 4 vCPUs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.acme import issue, make_ca
from tests.e2e.conftest import booted_host
from tests.e2e.host import Host
from tests.e2e.load import LoadResult, load

from .measure import (
    CEILING_PORT,
    CONNECTIONS,
    SECONDS,
    TUTORIAL_GUNICORN,
    TUTORIAL_PORT,
    TUTORIAL_SITE,
    measure_alternating,
    rss_kib,
    set_gunicorn_args,
    unit_pids,
)

SERVER_CPU = "1"
CLIENT_CPU = "0"
NAME = "bench.flaskapp.test"
# The defaults' worker count (CPUs + 1) on 1, 2 and 4 vCPUs.
WORKERS_PER_VCPUS = {1: 2, 2: 3, 4: 5}

# nginx answering alone over TLS, beside the tutorial's site and nginx's plain ceiling.
TLS_CEILING_SITE = """server {{
    listen 8443 ssl;
    ssl_certificate {certificate};
    ssl_certificate_key {key};
    # The packaged site's protocols and session cache (flaskapp_site/tls.py), not its ciphers.
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:compared_tls:10m;
    location / {{
        return 200 "Hello World!";
    }}
}}
"""


# Where a request's CPU goes on the packaged path: each change tried alone on the 1-vCPU host,
# measured taking turns with the tutorial's stack. Not defaults unless the numbers say so.
SANDBOX_SECCOMP_OFF = """[Service]
SystemCallFilter=
SystemCallArchitectures=
RestrictAddressFamilies=
MemoryDenyWriteExecute=no
LockPersonality=no
RestrictNamespaces=no
RestrictRealtime=no
"""
CHANGES: dict[str, Callable[[Host], None]] = {
    "packaged defaults": lambda host: None,
    "nginx access log buffered (64k, flushed every second)": lambda host: edit_site(
        host, "    location / {\n", "    access_log /var/log/nginx/access.log combined buffer=64k flush=1s;\n"
                                    "    location / {\n"),
    "nginx access log off": lambda host: edit_site(host, "    location / {\n",
                                                   "    access_log off;\n    location / {\n"),
    "no seccomp filters (the sandbox's syscall, address family and W^X filters off)":
        lambda host: drop_in(host, SANDBOX_SECCOMP_OFF),
    "gthread, 2 workers × 4 threads (nginx keeps upstream connections alive)":
        lambda host: set_gunicorn_args(host, "--worker-class=gthread --threads=4"),
    "sync, 1 worker": lambda host: set_gunicorn_args(host, "--workers=1"),
}


def edit_site(host: Host, old: str, new: str) -> None:
    site = host.file("/etc/nginx/sites-available/flaskapp")
    site.write(site.content.replace(old, new, 1))
    host.run("systemctl", "reload", "nginx")
    time.sleep(1)


def drop_in(host: Host, text: str) -> None:
    host.run("mkdir", "-p", "/etc/systemd/system/flaskapp.service.d")
    host.file("/etc/systemd/system/flaskapp.service.d/bench.conf").write(text)
    host.run("systemctl", "daemon-reload")
    host.run("systemctl", "restart", "flaskapp")
    host.wait_until_serving()
    time.sleep(2)


def undo_changes(host: Host, site: str) -> None:
    host.file("/etc/nginx/sites-available/flaskapp").write(site)
    host.run("systemctl", "reload", "nginx")
    host.run("rm", "-f", "/etc/systemd/system/flaskapp.service.d/bench.conf")
    host.run("systemctl", "daemon-reload")
    set_gunicorn_args(host, "")


@dataclass
class OneVcpu:
    changes: dict[str, tuple[LoadResult, LoadResult]] = field(default_factory=dict)
    http: dict[str, LoadResult] = field(default_factory=dict)
    https: dict[str, LoadResult] = field(default_factory=dict)
    memory: dict[int, dict[str, float]] = field(default_factory=dict)


def memory(host: Host, url: str) -> dict[str, float]:
    """The service's RSS (MiB): per worker and in all, idle and under load; and what is
    left of 1 GiB after every process on the host (RSS summed: shared pages counted again)."""
    def sample() -> tuple[float, float]:
        master, *workers = unit_pids(host, "flaskapp.service")
        worker_kib = [rss_kib(host, pid) for pid in workers]
        return max(worker_kib) / 1024, (rss_kib(host, master) + sum(worker_kib)) / 1024

    idle_worker, idle_total = sample()
    with load(url, SECONDS, CONNECTIONS, cpus=CLIENT_CPU):
        time.sleep(SECONDS / 2)
        loaded_worker, loaded_total = sample()
        every_process = host.run("sh", "-c", "cat /proc/[0-9]*/status | awk '/^VmRSS:/ { kib += $2 } "
                                             "END { print kib }'").stdout
    return {"idle worker": idle_worker, "idle total": idle_total, "loaded worker": loaded_worker,
            "loaded total": loaded_total, "1 GiB left": 1024 - int(every_process) / 1024}


def measure_one_vcpu(image: Path, deb: Path, workdir: Path) -> OneVcpu:
    found = OneVcpu()
    with booted_host(image, workdir / "host", "bench-1vcpu", cpu_affinity=SERVER_CPU) as host:
        host.apt_install(deb)
        host.wait_until_serving(timeout=60)
        ca = make_ca(workdir, "bench-ca")
        key, certificate = issue(workdir, ca, NAME, f"DNS:{NAME}")
        for path in (key, certificate):
            host.file(f"/etc/ssl/{path.name}").write(path.read_text())
        host.file("/etc/nginx/sites-available/compared").write(
            TUTORIAL_SITE + TLS_CEILING_SITE.format(certificate=f"/etc/ssl/{certificate.name}",
                                                    key=f"/etc/ssl/{key.name}"))
        host.run("ln", "-s", "../sites-available/compared", "/etc/nginx/sites-enabled/compared")
        host.run("systemctl", "reload", "nginx")
        host.run(*TUTORIAL_GUNICORN)
        time.sleep(2)

        address = host.address
        print("1 vCPU: HTTP", flush=True)
        found.http = measure_alternating({
            "packaged": f"http://{address}/",
            "tutorial": f"http://{address}:{TUTORIAL_PORT}/",
            "nginx alone": f"http://{address}:{CEILING_PORT}/",
        }, cpus=CLIENT_CPU)

        site = host.file("/etc/nginx/sites-available/flaskapp").content
        for name, change in CHANGES.items():
            print(f"1 vCPU: {name}", flush=True)
            change(host)
            both = measure_alternating({"changed": f"http://{address}/",
                                        "tutorial": f"http://{address}:{TUTORIAL_PORT}/"}, cpus=CLIENT_CPU)
            found.changes[name] = (both["changed"], both["tutorial"])
            undo_changes(host, site)

        print("1 vCPU: HTTPS", flush=True)
        host.file("/etc/flaskapp/site.conf").write(
            f"SERVER_NAMES={NAME}\nTLS=own\nTLS_CERTIFICATE=/etc/ssl/{certificate.name}\n"
            f"TLS_KEY=/etc/ssl/{key.name}\n")
        host.run("flaskapp-site", "apply")
        time.sleep(1)
        https = {"packaged": f"https://{address}/", "nginx alone": f"https://{address}:8443/"}
        found.https = {f"{name}, keep-alive": result
                       for name, result in measure_alternating(https, cpus=CLIENT_CPU).items()}
        found.https |= {f"{name}, a new TLS handshake per request": result
                        for name, result in measure_alternating(
                            https, cpus=CLIENT_CPU, headers=("Connection: close",)).items()}
        host.run("systemctl", "stop", "tutorial-gunicorn")
        for vcpus, workers in WORKERS_PER_VCPUS.items():
            print(f"memory: {workers} workers", flush=True)
            set_gunicorn_args(host, f"--workers={workers}")
            found.memory[vcpus] = memory(host, f"https://{address}/")
    return found
