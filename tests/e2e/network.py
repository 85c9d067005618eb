"""A network namespace per test host, joined to this machine by a veth pair.

Each host gets its own /30, so the host's firewall and nginx see real traffic on a
real interface, several hosts never collide, and nothing leaves this machine.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from dataclasses import dataclass

# 10.213.<n>.0/30: .1 is this machine's end of the veth, .2 the test host's.
SUBNET_PREFIX = "10.213"
_numbers = itertools.count(os.getpid())


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


def new_link() -> Link:
    """A link with a number no other link of this run uses (and a free /30)."""
    for _ in range(250):
        number = next(_numbers) % 250 + 1
        name = f"flaskapp-e2e-{number}"
        if not os.path.exists(f"/run/netns/{name}"):
            link = Link(name, number)
            link.create()
            return link
    raise RuntimeError("no free test network")
