"""The private apt repository: `make repo` publishes, a host adds it with the README's
commands and installs, upgrades and rolls back with apt; a forged repository is refused.

The repository is served over HTTP from this machine's end of the host's veth."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import REPO
from .host import Host
from .image import deb_suite
from .load import during

PUBLISH = REPO / "packaging/apt/publish-repo"
PORT = 8080


def publish(
    dist: Path, *debs: Path, gnupghome: Path, url: str = "", key: str = "", valid_for: str = ""
) -> subprocess.CompletedProcess:
    for deb in debs:
        shutil.copy(deb, dist)
    env = {**os.environ, "HOME": str(gnupghome.parent), "FLASKAPP_REPO_URL": url}
    if valid_for:
        env["FLASKAPP_REPO_VALID_FOR"] = valid_for
    if key:
        env.update(GNUPGHOME=str(gnupghome), FLASKAPP_REPO_KEY=key)
    return subprocess.run([str(PUBLISH), str(dist)], env=env, capture_output=True, text=True)


class RepoServer:
    """A static HTTP server for dist/repo on this machine's address on the host's link."""

    def __init__(self, root: Path, address: str) -> None:
        handler = functools.partial(QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer((address, PORT), handler)
        self.url = f"http://{address}:{PORT}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def dist() -> Iterator[Path]:
    """dist/ for make repo, beside a home for its key: in a short path, since gpg-agent's
    socket lives there and a unix socket's path has at most 107 bytes."""
    top = Path(tempfile.mkdtemp(prefix="fa-repo-", dir="/tmp"))
    (top / "dist").mkdir()
    (top / "home").mkdir()
    yield top / "dist"
    for gnupghome in top.glob("**/gnupg"):
        subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(gnupghome)})
    shutil.rmtree(top)


@pytest.fixture
def server(host: Host, dist: Path) -> Iterator[RepoServer]:
    (dist / "repo").mkdir()
    serving = RepoServer(dist / "repo", host.link.local_address)
    yield serving
    serving.stop()


def add_repository(host: Host, url: str) -> None:
    """The README's commands on a host: the key, the source, then apt."""
    host.run("curl", "-fsSL", "-o", "/usr/share/keyrings/flaskapp-archive-keyring.gpg",
             f"{url}flaskapp-archive-keyring.gpg")
    host.run("curl", "-fsSL", "-o", "/etc/apt/sources.list.d/flaskapp.sources", f"{url}flaskapp.sources")


def apt_update(host: Host) -> subprocess.CompletedProcess:
    """`apt-get update`: flaskapp's repository and the host's Debian mirror (image.py)."""
    return host.run("apt-get", "update", check=False)


def update_errors(host: Host) -> list[str]:
    return [line for line in apt_update(host).stderr.splitlines() if line.startswith("E:")]


def test_install_upgrade_and_roll_back_from_the_repository(
    host: Host, deb: Path, newer_deb: Path, dist: Path, server: RepoServer
) -> None:
    home = dist.parent / "home"
    published = publish(dist, deb, gnupghome=home / "gnupg", url=server.url)
    assert published.returncode == 0, published.stderr
    add_repository(host, server.url)
    assert update_errors(host) == []
    host.run("apt-get", "install", "--yes", "flaskapp")
    assert host.wait_until_serving().text == "Hello World!"

    # A newer version, published with the same key (made on first use, then reused).
    published = publish(dist, newer_deb, gnupghome=home / "gnupg", url=server.url)
    assert published.returncode == 0, published.stderr
    assert "generated a signing key" not in published.stdout
    assert update_errors(host) == []
    result = during(f"http://{host.address}/", lambda: host.run("apt-get", "upgrade", "--yes"), 14)
    assert result.failed == 0, result
    new_version = newer_deb.name.split("_")[1]
    assert host.get("/healthz").json()["version"] == new_version

    old_version = deb.name.split("_")[1]
    host.run("apt-get", "install", "--yes", "--allow-downgrades", f"flaskapp={old_version}")
    host.wait_until_serving()
    assert host.get("/healthz").json()["version"] == old_version


def test_tampered_release_is_refused(host: Host, deb: Path, dist: Path, server: RepoServer) -> None:
    assert publish(dist, deb, gnupghome=dist.parent / "home/gnupg", url=server.url).returncode == 0
    add_repository(host, server.url)
    in_release = dist / f"repo/dists/{deb_suite(deb)}/InRelease"
    signed = in_release.read_text()
    forged = signed.replace("\nDate: ", "\nDate: Mon, 01 Jan 2024 00:00:00 UTC\nX-Forged: ", 1)
    assert forged != signed
    in_release.write_text(forged)
    (in_release.parent / "Release.gpg").unlink()

    errors = update_errors(host)

    assert any("is not signed" in error for error in errors), errors
    assert host.run("apt-get", "install", "--yes", "flaskapp", check=False).returncode != 0
    assert not host.file("/opt/venvs/flaskapp").exists


def test_a_release_past_its_lifetime_is_refused_until_published_again(
        host: Host, deb: Path, dist: Path, server: RepoServer) -> None:
    gnupghome = dist.parent / "home/gnupg"
    published = publish(dist, deb, gnupghome=gnupghome, url=server.url, valid_for="3 seconds")
    assert published.returncode == 0, published.stderr
    assert "hosts accept it until" in published.stdout
    in_release = (dist / f"repo/dists/{deb_suite(deb)}/InRelease").read_text()
    for field in ("Origin: flaskapp", "Label: flaskapp", "Valid-Until: "):
        assert f"\n{field}" in in_release, field
    add_repository(host, server.url)
    time.sleep(4)
    errors = update_errors(host)
    assert any("is expired" in error for error in errors), errors
    assert host.run("apt-get", "install", "--yes", "flaskapp", check=False).returncode != 0

    # `make repo` again (the default lifetime, 30 days): the same versions, accepted.
    assert publish(dist, gnupghome=gnupghome, url=server.url).returncode == 0
    assert update_errors(host) == []
    host.run("apt-get", "install", "--yes", "flaskapp")


def test_repository_signed_by_another_key_is_refused(
    host: Host, deb: Path, dist: Path, server: RepoServer
) -> None:
    assert publish(dist, deb, gnupghome=dist.parent / "home/gnupg", url=server.url).returncode == 0
    add_repository(host, server.url)
    # The same repository, re-signed by a stranger's key.
    stranger = dist.parent / "stranger/gnupg"
    stranger.mkdir(mode=0o700, parents=True)
    gpg = ["gpg", "--batch", "--quiet", "--homedir", str(stranger)]
    subprocess.run([*gpg, "--passphrase", "", "--quick-generate-key", "stranger", "ed25519", "sign", "never"],
                   check=True)
    release = dist / f"repo/dists/{deb_suite(deb)}/Release"
    for name in ("InRelease", "Release.gpg"):
        (release.parent / name).unlink()
    subprocess.run([*gpg, "--clearsign", "-o", str(release.parent / "InRelease"), str(release)], check=True)
    subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(stranger)})

    update = apt_update(host)

    assert "NO_PUBKEY" in update.stderr, update.stderr
    assert "is not signed" in update.stderr, update.stderr
    assert host.run("apt-get", "install", "--yes", "flaskapp", check=False).returncode != 0
    assert not host.file("/opt/venvs/flaskapp").exists


def test_make_repo_errors_are_clear(dist: Path, deb: Path) -> None:
    result = subprocess.run([str(PUBLISH), str(dist)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "no flaskapp_*.deb" in result.stderr and "make deb" in result.stderr

    result = publish(dist, deb, gnupghome=dist.parent / "home/gnupg", key="0xDEADBEEF")
    assert result.returncode != 0
    assert "FLASKAPP_REPO_KEY=0xDEADBEEF: no secret key" in result.stderr


def packages_in(dist: Path, suite: str) -> list[str]:
    """The versions of flaskapp that a suite of the published repository offers."""
    (packages,) = (dist / f"repo/dists/{suite}/main").glob("binary-*/Packages")
    lines = packages.read_text().splitlines()
    return sorted(line.split()[1] for line in lines if line.startswith("Version:"))


def test_each_release_gets_its_own_suite_and_make_clean_loses_no_version(
    dist: Path, deb: Path, other_deb: Path, newer_deb: Path
) -> None:
    home = dist.parent / "home"
    native, other = deb_suite(deb), deb_suite(other_deb)
    (dist / other).mkdir()
    shutil.copy(other_deb, dist / other)  # where `make deb SUITE=...` puts it
    published = publish(dist, deb, gnupghome=home / "gnupg")
    assert published.returncode == 0, published.stderr
    version, other_version = deb.name.split("_")[1], other_deb.name.split("_")[1]
    assert packages_in(dist, native) == [version]
    assert packages_in(dist, other) == [other_version]
    for suite in (native, other):
        assert f"Suites: {suite}\n" in (dist / f"repo/flaskapp-{suite}.sources").read_text()

    # `make clean`: dist/ goes, the repository's history (in the publisher's home) stays.
    shutil.rmtree(dist)
    dist.mkdir()
    published = publish(dist, newer_deb, gnupghome=home / "gnupg")
    assert published.returncode == 0, published.stderr
    assert packages_in(dist, native) == sorted([version, newer_deb.name.split("_")[1]])
    assert packages_in(dist, other) == [other_version]


def test_a_build_that_names_no_release_is_refused(dist: Path, deb: Path, tmp_path: Path) -> None:
    unnamed = tmp_path / "flaskapp_0.2.0_amd64.deb"
    subprocess.run(["dpkg-deb", "--raw-extract", str(deb), str(tmp_path / "x")], check=True)
    control = tmp_path / "x/DEBIAN/control"
    control.write_text(re.sub(r"(?m)^Version: .*$", "Version: 0.2.0", control.read_text()))
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tmp_path / "x"), str(unnamed)],
                   check=True, capture_output=True)
    result = publish(dist, unnamed, gnupghome=dist.parent / "home/gnupg")
    assert result.returncode != 0
    assert "version 0.2.0 names no release" in result.stderr
    assert not (dist / "repo/dists").exists()
