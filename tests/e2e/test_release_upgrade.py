"""A bookworm host with flaskapp from the repository, upgraded to trixie the way Debian's
release notes say (its sources switched to trixie, Debian's and flaskapp's, `apt full-upgrade`,
reboot): first before the repository has a trixie build, then once it has.

Debian's trixie archive is stood in for by the trixie hosts' image's apt cache (every package
that image runs or installs), served over HTTP to the host like flaskapp's repository."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .host import Host
from .image import archive_from, deb_suite
from .load import throughout
from .test_apt_repo import RepoServer, add_repository, publish

OPTIONS = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]


@pytest.fixture
def served_dir(tmp_path: Path) -> Path:
    """What the server serves: flaskapp's repository (repo/) and the trixie archive (trixie/).
    A short path: gpg-agent's socket lives in it (test_apt_repo's dist fixture says why)."""
    top = Path(subprocess.run(["mktemp", "-d", "/tmp/fa-rel-XXXXXX"], check=True, capture_output=True,
                              text=True).stdout.strip())
    (top / "dist/repo").mkdir(parents=True)
    (top / "home").mkdir()
    yield top
    subprocess.run(["gpgconf", "--kill", "all"], env={"GNUPGHOME": str(top / "home/gnupg")})
    subprocess.run(["rm", "-rf", str(top)], check=True)


@pytest.fixture
def server(host: Host, served_dir: Path, other_image: Path) -> Iterator[RepoServer]:
    archive_from(other_image, served_dir / "trixie")
    (served_dir / "repo").symlink_to(served_dir / "dist/repo")
    serving = RepoServer(served_dir, host.link.local_address)
    yield serving
    serving.stop()


def version(deb: Path) -> str:
    return deb.name.split("_")[1]


def switch_to_trixie(host: Host, url: str) -> None:
    """As the release notes say: every source to trixie (here Debian's is the stand-in)."""
    host.file("/etc/apt/sources.list").write(f"deb [trusted=yes] {url}trixie ./\n")
    host.run("sed", "-i", "s/^Suites: bookworm$/Suites: trixie/", "/etc/apt/sources.list.d/flaskapp.sources")


def test_a_release_upgrade_keeps_the_site_serving(
    host: Host, deb: Path, other_deb: Path, served_dir: Path, server: RepoServer
) -> None:
    if (deb_suite(deb), deb_suite(other_deb)) != ("bookworm", "trixie"):
        pytest.skip("the release upgrade goes from bookworm to trixie")
    dist, home = served_dir / "dist", served_dir / "home"
    assert publish(dist, deb, gnupghome=home / "gnupg", url=f"{server.url}repo/").returncode == 0
    add_repository(host, f"{server.url}repo/")
    host.run("apt-get", "update")
    host.run("apt-get", "install", "--yes", "flaskapp")
    host.wait_until_serving()
    key = host.file("/etc/flaskapp/secret_key").content
    host.file("/etc/flaskapp/site.conf").write("SERVER_NAMES=_ app.example.org\n")
    host.run("flaskapp-site", "apply")
    host.run("runuser", "-u", "flaskapp", "--", "touch", "/var/lib/flaskapp/app/data")

    # No trixie build published yet: flaskapp's source fails to update, the rest upgrades,
    # and flaskapp keeps its Python (python3.11, which it depends on by name) and serves.
    switch_to_trixie(host, server.url)
    update = host.run("apt-get", "update", check=False)
    assert f"{server.url}repo trixie Release' does not have a Release file" in update.stderr, update.stderr
    said: list[str] = []

    def upgrade() -> None:
        said.append(host.run("apt-get", "full-upgrade", "--yes", *OPTIONS, timeout=1200).stdout)

    first = throughout(f"http://{host.address}/", upgrade, max_seconds=1200)
    # flaskapp itself never failed a request (no 502: it kept serving); nginx's own upgrade
    # restarts nginx, which refuses connections for a moment (README, "Every Debian release").
    assert first.non_2xx == 0, f"{first}\n{said[-1]}"
    host.run("sh", "-c", ". /etc/os-release && test $VERSION_CODENAME = trixie")
    host.reboot()
    assert host.wait_until_serving().text == "Hello World!"
    assert host.get("/healthz").json()["version"] == version(deb)
    assert host.file("/usr/bin/python3.11").exists

    # The trixie build published: an upgrade like any other, with no failed request.
    (dist / "trixie").mkdir()
    shutil.copy(other_deb, dist / "trixie")
    assert publish(dist, gnupghome=home / "gnupg", url=f"{server.url}repo/").returncode == 0
    host.run("apt-get", "update")
    second = throughout(f"http://{host.address}/", upgrade, max_seconds=600)
    assert second.failed == 0, f"{second}\n{said[-1]}"
    assert host.get("/healthz").json()["version"] == version(other_deb)
    host.reboot()
    assert host.wait_until_serving().text == "Hello World!"
    assert host.get("/healthz").json()["version"] == version(other_deb)
    assert host.file("/etc/flaskapp/secret_key").content == key
    assert "app.example.org" in host.file("/var/lib/flaskapp/nginx/listen.conf").content
    assert host.file("/var/lib/flaskapp/app/data").exists
    print(f"full-upgrade to trixie, no trixie build: {first}; with it: {second}")
