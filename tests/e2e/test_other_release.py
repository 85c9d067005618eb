"""The build for the other supported Debian release (trixie's, when the suite runs on
bookworm), on hosts of that release: its own systemd, nginx, Python and nftables. The whole
suite runs on this machine's release; here, what differs between releases. (An upgrade under
load on that release: test_release_upgrade.py, whose hosts end on it.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import booted_host
from .host import Host, eventually
from .image import deb_suite
from .load import during
from .test_firewall import drop_with_nftables

LOAD_SECONDS = 8


@pytest.fixture
def other_host(other_image: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Host]:
    with booted_host(other_image, tmp_path / "host", request.node.name) as fresh:
        yield fresh


def version(deb: Path) -> str:
    return deb.name.split("_")[1]


def test_install_serve_restart_reboot_and_purge(other_host: Host, other_deb: Path) -> None:
    release = other_host.run("sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME").stdout.strip()
    assert release == deb_suite(other_deb)
    drop_with_nftables(other_host)  # the port is opened in this release's nftables too

    output = other_host.apt_install(other_deb).stdout
    assert "nftables: accepted port 80/tcp" in output, output
    assert other_host.wait_until_serving().text == "Hello World!"
    assert other_host.get("/healthz").json() == {"status": "ok", "version": version(other_deb)}
    verified = other_host.run("systemd-analyze", "verify", "flaskapp.socket", "flaskapp.service",
                              check=False)
    assert verified.returncode == 0 and "flaskapp" not in verified.stderr, verified.stderr
    master = other_host.service("flaskapp.service").main_pid
    assert other_host.file(f"/proc/{master}").user == "flaskapp"
    assert "/healthz" in other_host.run("flaskapp", "routes").stdout

    restart = lambda: other_host.run("systemctl", "restart", "flaskapp")  # noqa: E731
    result = during(f"http://{other_host.address}/", restart, LOAD_SECONDS)
    assert result.requests > 1000 and result.failed == 0, result

    other_host.reboot()
    assert other_host.wait_until_serving().text == "Hello World!"

    other_host.run("apt-get", "purge", "--yes", "flaskapp")
    leftovers = other_host.run("find", "/etc", "/opt", "/var", "/usr", "/lib", "-xdev", "-name", "*flaskapp*",
                               check=False).stdout
    assert leftovers == ""
    # The port closed again: nginx's default site answers on the host only.
    assert "flaskapp" not in other_host.run("nft", "list", "ruleset").stdout
    eventually(lambda: "Welcome to nginx" in other_host.run("curl", "-s", "http://localhost/").stdout,
               what="default site served")
