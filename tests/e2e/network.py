"""A network namespace per test host, joined to this machine by a veth pair.

Each host gets its own /30, so the host's firewall and nginx see real traffic on a
real interface, several hosts never collide, and nothing leaves this machine.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

# 10.213.<n>.0/30: .1 is this machine's end of the veth, .2 the test host's.
SUBNET_PREFIX = "10.213"
_numbers = itertools.count(os.getpid())
Network = TypeVar("Network")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


@dataclass
class Link:
    name: str  # the namespace, /run/netns/<name>
    number: int

    @property
    def host_address(self) -> str:
        """The test host's address, where its nginx listens."""
        return f"{SUBNET_PREFIX}.{self.number}.2"

    @property
    def local_address(self) -> str:
        """This machine's address on the link (what the host sees requests come from)."""
        return f"{SUBNET_PREFIX}.{self.number}.1"

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.name}"

    @property
    def _local_if(self) -> str:
        return f"fae{self.number}h"

    @property
    def _host_if(self) -> str:
        return f"fae{self.number}c"

    def create(self) -> None:
        ip("netns", "add", self.name)
        try:
            ip("link", "add", self._local_if, "type", "veth", "peer", "name", self._host_if)
            ip("link", "set", self._host_if, "netns", self.name)
            ip("addr", "add", f"{self.local_address}/30", "dev", self._local_if)
            ip("link", "set", self._local_if, "up")
            ip("-n", self.name, "addr", "add", f"{self.host_address}/30", "dev", self._host_if)
            ip("-n", self.name, "link", "set", self._host_if, "up")
            ip("-n", self.name, "link", "set", "lo", "up")
        except subprocess.CalledProcessError:
            self.delete()
            raise

    def delete(self) -> None:
        # Deleting one end of a veth deletes both; the namespace goes last.
        subprocess.run(["ip", "link", "del", self._local_if], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", self.name], stderr=subprocess.DEVNULL)


def _unused(prefix: str, network: Callable[[str, int], Network]) -> Network:
    """A network named prefix-<n>, with a number no other of this run uses, created."""
    for _ in range(250):
        number = next(_numbers) % 250 + 1
        name = f"{prefix}-{number}"
        if not os.path.exists(f"/run/netns/{name}"):
            made = network(name, number)
            try:
                made.create()
            except subprocess.CalledProcessError:
                continue  # another pytest process (make test runs two) took it meanwhile
            return made
    raise RuntimeError("no free test network")


def new_link() -> Link:
    """A link with a free /30."""
    return _unused("flaskapp-e2e", Link)

# 10.214.<n>.0/24 for a bridge: .1 is this machine, hosts from .10 on.
BRIDGE_PREFIX = "10.214"


@dataclass
class BridgePort:
    """A host's place on a bridge: a veth from the bridge's namespace into the host's own."""
    name: str  # the host's namespace
    bridge: Bridge
    index: int

    @property
    def host_address(self) -> str:
        return f"{BRIDGE_PREFIX}.{self.bridge.number}.{10 + self.index}"

    @property
    def local_address(self) -> str:
        return self.bridge.local_address

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.name}"

    def create(self) -> None:
        bridge_ns, port = self.bridge.name, f"p{self.index}"
        ip("netns", "add", self.name)
        try:
            ip("-n", bridge_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0",
               "netns", self.name)
            ip("-n", bridge_ns, "link", "set", port, "master", "br0", "up")
            ip("-n", self.name, "addr", "add", f"{self.host_address}/24", "dev", "eth0")
            ip("-n", self.name, "link", "set", "eth0", "up")
            ip("-n", self.name, "link", "set", "lo", "up")
        except subprocess.CalledProcessError:
            self.delete()
            raise

    def delete(self) -> None:
        # The veth goes with the host's namespace.
        subprocess.run(["ip", "netns", "del", self.name], stderr=subprocess.DEVNULL)


@dataclass
class Bridge:
    """A test network of several hosts, as servers on one LAN: a bridge in a namespace of its
    own, with this machine on it too (to reach each host, as an admin's machine would)."""
    name: str
    number: int
    ports: int = 0

    @property
    def local_address(self) -> str:
        return f"{BRIDGE_PREFIX}.{self.number}.1"

    @property
    def _local_if(self) -> str:
        return f"fab{self.number}h"

    def create(self) -> None:
        ip("netns", "add", self.name)
        try:
            ip("-n", self.name, "link", "add", "br0", "type", "bridge")
            ip("-n", self.name, "link", "set", "br0", "up")
            ip("link", "add", self._local_if, "type", "veth", "peer", "name", "up0", "netns", self.name)
            ip("-n", self.name, "link", "set", "up0", "master", "br0", "up")
            ip("addr", "add", f"{self.local_address}/24", "dev", self._local_if)
            ip("link", "set", self._local_if, "up")
        except subprocess.CalledProcessError:
            self.delete()
            raise

    def new_port(self) -> BridgePort:
        self.ports += 1
        port = BridgePort(f"{self.name}-{self.ports}", self, self.ports)
        port.create()
        return port

    def delete(self) -> None:
        subprocess.run(["ip", "link", "del", self._local_if], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", self.name], stderr=subprocess.DEVNULL)


def new_bridge() -> Bridge:
    """A bridge with a free /24."""
    return _unused("flaskapp-lan", Bridge)
