"""A fleet of booted hosts for deploy/'s Ansible playbooks: an HAProxy load balancer and three
app servers on one LAN (a bridge in a network namespace of its own, this machine on it too),
reached over ssh from this machine as an admin's machine would.

This machine serves them flaskapp's signed repository (`make repo`) and a stand-in for
Debian's mirror (the image's apt cache), so they run apt-get update like any server.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..conftest import REPO
from .host import Host, HostError, eventually
from .image import archive_from
from .network import new_bridge
from .test_apt_repo import RepoServer, publish

DEPLOY = REPO / "deploy"
APP_SERVERS = ("app1", "app2", "app3")


@dataclass
class Fleet:
    balancer: Host
    apps: dict[str, Host]
    workdir: Path

    @property
    def url(self) -> str:
        return f"http://{self.balancer.address}/"

    def playbook(self, name: str, **extra_vars: object) -> subprocess.CompletedProcess:
        """ansible-playbook in deploy/ (its ansible.cfg), as the README says to run it."""
        return subprocess.run(
            ["ansible-playbook", "-i", str(self.workdir / "inventory.yml"), name,
             "-e", json.dumps(extra_vars)],
            cwd=DEPLOY, capture_output=True, text=True, timeout=900,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.workdir),
                 "ANSIBLE_NOCOLOR": "1", "ANSIBLE_SSH_ARGS": (
                     f"-o UserKnownHostsFile={self.workdir / 'known_hosts'} -o ControlMaster=auto "
                     "-o ControlPersist=60s")},
        )

    def versions(self) -> dict[str, str]:
        """What each app server's /healthz says it runs, asked directly."""
        return {name: host.get("/healthz").json()["version"] for name, host in self.apps.items()}

    def pool(self) -> dict[str, str]:
        """Each app server's status in HAProxy (UP, MAINT, DOWN...), from its runtime API."""
        show_stat = (
            "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock');"
            "s.sendall(b'show stat\\n'); print(b''.join(iter(lambda: s.recv(65536), b'')).decode())"
        )
        stat = self.balancer.run("python3", "-c", show_stat).stdout.lstrip("# ").splitlines()
        header = stat[0].split(",")
        rows = [dict(zip(header, line.split(","), strict=False)) for line in stat[1:] if line]
        return {row["svname"]: row["status"] for row in rows
                if row["pxname"] == "flaskapp" and row["svname"] in self.apps}

    def all_up(self) -> bool:
        """Whether every app server is in the pool, its last checks passed: "UP", not "UP 1/2"
        (going down: a check failed, or none ran yet since it came back)."""
        return self.pool() == dict.fromkeys(self.apps, "UP")

    def assert_all_up(self) -> None:
        try:
            eventually(self.all_up, timeout=10, what="every app server UP in HAProxy")
        except HostError as error:
            raise AssertionError(f"{error}: {self.pool()}") from None


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP: host → {ok, changed, failed, ...}."""
    return {
        match.group(1): {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(2))}
        for match in re.finditer(r"(?m)^(\S+)\s+: (ok=.*)$", output)
    }


def install_sshd_and_python(host: Host) -> None:
    host.run("apt-get", "install", "--yes", "--no-install-recommends", "openssh-server", "python3")


def make_reachable_over_ssh(host: Host, public_key: str) -> str:
    """What a new cloud server has: sshd, python3, the admin's key. Returns its host key line."""
    install_sshd_and_python(host)
    host.run("install", "-d", "-m", "0700", "/root/.ssh")
    host.file("/root/.ssh/authorized_keys").write(public_key)
    key = host.file("/etc/ssh/ssh_host_ed25519_key.pub").content.split()[:2]
    return f"{host.address} {' '.join(key)}\n"


def inventory(fleet: Fleet, repo_url: str, key_file: Path) -> dict:
    """The example inventory's shape, with this fleet's hosts and repository."""
    def host(h: Host) -> dict:
        return {"ansible_host": h.address, "ansible_user": "root",
                "ansible_ssh_private_key_file": str(fleet.workdir / "id_ed25519")}
    return {"all": {
        "vars": {"flaskapp_repo_url": repo_url, "flaskapp_repo_key_file": str(key_file),
                 "flaskapp_site_settings": {"DEFAULT_SERVER": "yes"},
                 "flaskapp_environment": {"FLASKAPP_FLEET": "test"}},
        "children": {
            "app_servers": {"hosts": {name: host(h) for name, h in fleet.apps.items()}},
            "load_balancer": {"hosts": {"lb": host(fleet.balancer)}},
        },
    }}


@contextmanager
def running_fleet(image: Path, debs: list[Path], workdir: Path,
                  root: Sequence[Path] | None = None) -> Iterator[Fleet]:
    """Boots the balancer and the app servers, bare but for sshd and python3, and serves them
    a repository with `debs` published and Debian's stand-in (the image's apt cache). Ansible's
    files go in workdir. `root`: the hosts' root, if not the image itself (layers on it)."""
    # A short path: gpg-agent's socket lives in it (test_apt_repo's dist fixture says why).
    served = Path(tempfile.mkdtemp(prefix="fa-fleet-", dir="/tmp"))
    bridge = new_bridge()
    hosts: dict[str, Host] = {}
    server = None
    try:
        for name in ("lb", *APP_SERVERS):
            hosts[name] = Host(root or image, workdir / name, name=f"flaskapp-fleet-{name}",
                               link=bridge.new_port())
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(workdir / "id_ed25519")],
                       check=True)
        public_key = (workdir / "id_ed25519.pub").read_text()
        for host in hosts.values():
            host.create()
            host.boot()
        with ThreadPoolExecutor(len(hosts)) as pool:
            host_keys = list(pool.map(lambda h: make_reachable_over_ssh(h, public_key), hosts.values()))
        (workdir / "known_hosts").write_text("".join(host_keys))

        # flaskapp's repository, and Debian's stand-in.
        (served / "dist").mkdir()
        server = RepoServer(served, bridge.local_address)
        published = publish(served / "dist", *debs,
                            gnupghome=served / "home/gnupg", url=f"{server.url}dist/repo/")
        if published.returncode != 0:
            raise RuntimeError(f"make repo failed: {published.stderr}")
        archive_from(image, served / "debian")
        for host in hosts.values():
            host.file("/etc/apt/sources.list").write(f"deb [trusted=yes] {server.url}debian ./\n")

        fleet = Fleet(hosts["lb"], {name: hosts[name] for name in APP_SERVERS}, workdir)
        (workdir / "inventory.yml").write_text(json.dumps(inventory(
            fleet, f"{server.url}dist/repo/", served / "dist/repo/flaskapp-archive-keyring.gpg")))
        yield fleet
    finally:
        if server is not None:
            server.stop()
        for host in hosts.values():
            host.destroy()
        bridge.delete()
        subprocess.run(["gpgconf", "--kill", "all"], env={"GNUPGHOME": str(served / "home/gnupg")})
        subprocess.run(["rm", "-rf", str(served)], check=True)


