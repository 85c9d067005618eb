"""A test host: Debian 12 booted with systemd-nspawn, systemd as its PID 1, in a network
namespace of its own. Tests talk to it the way an operator would: run commands in it,
look at its files and services, and send it HTTP over its veth.

Its root is an overlay on the shared image, so every host starts fresh and boots in
about two seconds; a poweroff and boot keeps the overlay, like a reboot keeps a disk. The
image may have layers on it: a host's root as left by steps that are not what a test tests
(nginx installed, the package installed), made once by a host and kept (`keep_as_layer`).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from . import cgroups
from .network import BridgePort, Link, new_link

# What a root shell on a server has; nothing of the test runner's environment leaks in.
HOST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "DEBIAN_FRONTEND": "noninteractive",
}


class HostError(RuntimeError):
    pass


def said(result: subprocess.CompletedProcess) -> str:
    """Everything a command printed: dpkg passes a maintainer script's stderr to apt's
    stdout or stderr depending on how apt runs it."""
    return result.stdout + result.stderr


def eventually(condition: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    """Waits until condition() holds: for what a service does after a command returns."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise HostError(f"{what}: still not true after {timeout}s")
        time.sleep(0.2)


@dataclass
class Service:
    host: Host
    name: str

    def _systemctl(self, verb: str) -> str:
        return self.host.run("systemctl", verb, self.name, check=False).stdout.strip()

    @property
    def is_active(self) -> bool:
        return self._systemctl("is-active") == "active"

    @property
    def is_enabled(self) -> bool:
        return self._systemctl("is-enabled") == "enabled"

    @property
    def main_pid(self) -> int:
        out = self.host.run("systemctl", "show", "--value", "--property=MainPID", self.name)
        return int(out.stdout.strip())


@dataclass
class File:
    host: Host
    path: str

    def _stat(self) -> list[str] | None:
        out = self.host.run("stat", "--printf=%F\\n%U\\n%G\\n%a", self.path, check=False)
        return out.stdout.split("\n") if out.returncode == 0 else None

    @property
    def exists(self) -> bool:
        return self._stat() is not None

    @property
    def is_symlink(self) -> bool:
        stat = self._stat()
        return stat is not None and stat[0] == "symbolic link"

    @property
    def is_file(self) -> bool:
        stat = self._stat()
        return stat is not None and stat[0] in ("regular file", "regular empty file")

    @property
    def is_directory(self) -> bool:
        stat = self._stat()
        return stat is not None and stat[0] == "directory"

    @property
    def user(self) -> str:
        return self._stat()[1]

    @property
    def group(self) -> str:
        return self._stat()[2]

    @property
    def mode(self) -> int:
        return int(self._stat()[3], 8)

    @property
    def linked_to(self) -> str:
        return self.host.run("readlink", self.path).stdout.strip()

    @property
    def content(self) -> str:
        return self.host.run("cat", self.path).stdout

    def write(self, text: str) -> None:
        self.host.run("tee", self.path, input=text)


class Host:
    def __init__(self, image: Path | Sequence[Path], workdir: Path, name: str = "flaskapp-test",
                 link: Link | BridgePort | None = None, cpu_affinity: str | None = None) -> None:
        """`image` is the image's root, or the layers on it, topmost first, and then the image.
        With no link, the host gets a network of its own (a veth to this machine). With
        cpu_affinity (a CPU list such as "1"), everything in it runs on those CPUs alone."""
        self.name = name
        self.layers = [image] if isinstance(image, Path) else list(image)
        self.workdir = workdir
        self.root = workdir / "root"
        self.link = link
        self.cpu_affinity = cpu_affinity
        self.nspawn: subprocess.Popen | None = None
        self.pid: int | None = None  # the host's systemd, as seen from this machine
        self.boot_log = workdir / "boot.log"
        self.cgroups: list[Path] = []

    # --- lifecycle -------------------------------------------------------------------

    def create(self) -> None:
        for sub in ("upper", "work", "root"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        lower = ":".join(str(layer) for layer in self.layers)
        options = f"lowerdir={lower},upperdir={self.workdir / 'upper'},workdir={self.workdir / 'work'}"
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(self.root)], check=True)
        if self.link is None:
            self.link = new_link()

    def boot(self, timeout: float = 60) -> None:
        assert self.link is not None, "create() first"
        self.cgroups = cgroups.make(self.name)
        with open(self.boot_log, "ab") as log:
            self.nspawn = subprocess.Popen(
                [
                    "systemd-nspawn", "--quiet", "--boot",
                    f"--directory={self.root}", f"--machine={self.name}",
                    # There is no systemd on this machine to register with or to run under.
                    "--register=no", "--keep-unit",
                    f"--network-namespace-path={self.link.netns_path}",
                    # Its services manage its own network namespace's firewall, as on a
                    # server (nspawn grants this only with networking of its own making).
                    "--capability=CAP_NET_ADMIN",
                    *([f"--cpu-affinity={self.cpu_affinity}"] if self.cpu_affinity else []),
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=functools.partial(cgroups.enter, self.cgroups),
            )
        deadline = time.monotonic() + timeout
        self.pid = self._wait_for_init(timeout)
        # Until systemd has set up its private socket, systemctl answers "offline".
        while True:
            state = self.run("systemctl", "is-system-running", "--wait", check=False, timeout=timeout)
            if state.stdout.strip() in ("running", "degraded"):
                return
            if time.monotonic() > deadline:
                raise HostError(f"host did not finish booting: {state.stdout.strip()}\n{self.diagnostics()}")
            time.sleep(0.1)

    def _wait_for_init(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        children = Path(f"/proc/{self.nspawn.pid}/task/{self.nspawn.pid}/children")
        while time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                raise HostError(f"systemd-nspawn exited: {self.boot_log.read_text()[-3000:]}")
            for pid in children.read_text().split() if children.exists() else []:
                try:
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                        return int(pid)
                except FileNotFoundError:
                    pass
            time.sleep(0.05)
        raise HostError("the host's systemd did not start")

    def poweroff(self, timeout: float = 60) -> None:
        if self.nspawn is None or self.nspawn.poll() is not None:
            return
        self.run("systemctl", "poweroff", check=False)
        try:
            self.nspawn.wait(timeout)
        except subprocess.TimeoutExpired:
            self.nspawn.kill()
            self.nspawn.wait()
        self.pid = None
        cgroups.remove(self.cgroups)

    def reboot(self) -> None:
        """Power off and boot the same root again, as after a reboot of a server."""
        self.poweroff()
        self._boot_again()

    def power_cut(self) -> None:
        """Every process of the host killed at once (SIGKILL to its PID 1 from outside: the
        kernel kills the rest of its PID namespace), then a boot of the same root, as after
        a power cut. (What was written is kept: the page cache is this machine's.)"""
        self._kill()
        self._boot_again()

    def _kill(self) -> None:
        if self.nspawn is None or self.nspawn.poll() is not None:
            return
        if self.pid is None:  # its systemd not found (a failed boot): nspawn's own shutdown
            self.nspawn.terminate()
        else:
            subprocess.run(["kill", "-KILL", str(self.pid)], check=True)
        self.nspawn.wait(60)
        self.pid = None
        cgroups.remove(self.cgroups)

    def _boot_again(self) -> None:
        # The network namespace outlives the host, so what a reboot clears is cleared by
        # hand: the kernel's firewall rules (iptables here is the nft variant).
        subprocess.run(["ip", "netns", "exec", self.link.name, "nft", "flush", "ruleset"], check=True)
        self.boot()

    def destroy(self) -> None:
        """Throws the host away. Its processes are killed, with no shutdown: nothing of it is
        kept, and a clean one (every service stopped, systemd-shutdown) cost each host a
        second or two of CPU."""
        self._kill()
        self._shut_down()
        shutil.rmtree(self.workdir / "upper", ignore_errors=True)

    def keep_as_layer(self) -> list[Path]:
        """Powers the host off and returns its root as layers for other hosts: what it
        changed (its overlay's upper directory, then read-only) on what it booted from."""
        self._shut_down()
        return [self.workdir / "upper", *self.layers]

    def _shut_down(self) -> None:
        self.poweroff()
        if self.root.is_mount():
            subprocess.run(["umount", str(self.root)], check=True)
        if self.link is not None:
            self.link.delete()
            self.link = None

    # --- what an operator does ------------------------------------------------------

    def run(
        self, *argv: str, check: bool = True, timeout: float = 300, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """Runs a command as root in the host and returns what it printed."""
        result = subprocess.run(
            self._inside(argv), env=HOST_ENV, capture_output=True, text=True, timeout=timeout, input=input,
        )
        if check and result.returncode != 0:
            raise HostError(
                f"{' '.join(argv)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def start(self, *argv: str) -> subprocess.Popen:
        """Starts a command as root in the host; what it prints (stdout and stderr, one
        stream) is read from the returned process while it runs."""
        return subprocess.Popen(self._inside(argv), env=HOST_ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)

    def _inside(self, argv: tuple[str, ...]) -> list[str]:
        if self.pid is None:
            raise HostError("the host is not running")
        return ["nsenter", f"--target={self.pid}", "--all", "--", *argv]

    def kill(self, pid: int | str) -> None:
        """SIGKILL, as a crash would (the shell's kill: a minimal host has no /bin/kill)."""
        self.run("sh", "-c", f"kill -9 {int(pid)}")

    def copy_in(self, local: Path, remote_dir: str = "/root") -> str:
        """Copies a file into the host's root file system (not into its /tmp or /run, which
        are mounts inside the host) and returns its path there."""
        target = self.root / remote_dir.lstrip("/") / local.name
        shutil.copy(local, target)
        return f"{remote_dir.rstrip('/')}/{local.name}"

    def apt_install(self, deb: Path, check: bool = True) -> subprocess.CompletedProcess:
        """`apt install ./flaskapp_*.deb`, as the README says; dependencies come from the
        image's mirror of Debian (image.py), since the host has no route out."""
        path = self.copy_in(deb)
        return self.run("apt-get", "install", "--yes", path, check=check)

    def file(self, path: str) -> File:
        return File(self, path)

    def service(self, name: str) -> Service:
        return Service(self, name)

    def tcp_listeners(self) -> set[str]:
        """Local addresses (address:port) of every listening TCP socket on the host."""
        out = self.run("ss", "--no-header", "--listening", "--tcp", "--numeric").stdout
        return {line.split()[3] for line in out.splitlines() if line.strip()}

    @property
    def address(self) -> str:
        return self.link.host_address

    def get(self, path: str, **kwargs) -> requests.Response:
        """An HTTP GET to the host's port 80 from this machine, across the veth."""
        kwargs.setdefault("timeout", 10)
        return requests.get(f"http://{self.address}{path}", **kwargs)

    def wait_until_serving(self, timeout: float = 30, path: str = "/",
                           body: str | None = "Hello World!") -> requests.Response:
        """Waits until port 80 answers `path` with the app's `body` (any body: None), nginx
        having reloaded after systemctl returned."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                response = self.get(path, timeout=2)
                if response.status_code == 200 and body in (None, response.text):
                    return response
                last = f"HTTP {response.status_code}: {response.text[:80]!r}"
            except requests.RequestException as error:
                last = repr(error)
            time.sleep(0.2)
        raise HostError(f"not serving the app after {timeout}s: {last}")

    def diagnostics(self) -> str:
        """What an operator would look at first: unit states and the journal."""
        if self.pid is None:
            return self.boot_log.read_text()[-5000:] if self.boot_log.exists() else ""
        parts = []
        for argv in (
            ("systemctl", "--no-pager", "--full", "status",
             "flaskapp.socket", "flaskapp.service", "nginx.service"),
            ("systemctl", "--no-pager", "--failed"),
            ("journalctl", "--no-pager", "--boot", "--lines=150"),
        ):
            result = self.run(*argv, check=False, timeout=30)
            parts.append(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}")
        return "\n".join(parts)
