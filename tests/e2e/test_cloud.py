"""From a bare VM to serving with nobody logging in: cloud-init's user data from `make
cloud-init` (Debian's cloud-init, its NoCloud datasource, as a cloud hands it over), and an
image with the package installed in a chroot, as an image builder installs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import REPO
from .apps import STATE, STYLE
from .host import Host, said
from .image import archive_from, deb_suite
from .test_apt_repo import RepoServer, publish

USER_DATA = REPO / "packaging/cloud-init/user-data"
FIRST_BOOT_RECORD = "/var/lib/flaskapp/configure-at-boot"
# What the stand-in cloud sets in its image: NoCloud, whose seed is a directory, and no
# network configuration by cloud-init (the host's network is the suite's veth).
STAND_IN_CLOUD = "datasource_list: [NoCloud, None]\nnetwork:\n  config: disabled\n"
SITE = "SERVER_NAMES=app.example.org\n"
APP_ENV = "DATABASE_URL=sqlite:////var/lib/flaskapp/app/app.db\n"


def version(deb: Path) -> str:
    return deb.name.split("_")[1]


def make_cloud_init(dist: Path, **settings: str) -> subprocess.CompletedProcess:
    """`make cloud-init` (the Makefile runs this script on dist/), with its settings."""
    return subprocess.run([str(USER_DATA), str(dist)], capture_output=True, text=True,
                          env={**os.environ, **settings})


@pytest.fixture
def served(host: Host, deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """flaskapp's repository published by `make repo` and Debian's stand-in (the image's apt
    cache), served to the host: (dist, the server's URL)."""
    top = Path(subprocess.run(["mktemp", "-d", "/tmp/fa-cloud-XXXXXX"], check=True, capture_output=True,
                              text=True).stdout.strip())
    (top / "dist").mkdir()
    server = RepoServer(top, host.link.local_address)
    try:
        published = publish(top / "dist", deb, gnupghome=top / "home/gnupg", url=f"{server.url}dist/repo/")
        assert published.returncode == 0, published.stderr
        archive_from(host.layers[-1], top / "debian")
        yield top / "dist", server.url
    finally:
        server.stop()
        subprocess.run(["gpgconf", "--kill", "all"], env={"GNUPGHOME": str(top / "home/gnupg")})
        subprocess.run(["rm", "-rf", str(top)], check=True)


def cloud_init_status(host: Host) -> str:
    return host.run("cloud-init", "status", "--wait", "--long", check=False, timeout=600).stdout


def test_user_data_from_make_cloud_init_makes_a_bare_vm_serve_with_nobody_logging_in(
        host: Host, deb: Path, served: tuple[Path, str], tmp_path: Path) -> None:
    dist, url = served
    (tmp_path / "site.conf").write_text(SITE)
    (tmp_path / "app.env").write_text(APP_ENV)
    made = make_cloud_init(dist, FLASKAPP_CLOUD_SUITE=deb_suite(deb),
                           FLASKAPP_CLOUD_SITE=str(tmp_path / "site.conf"),
                           FLASKAPP_CLOUD_ENV=str(tmp_path / "app.env"), FLASKAPP_CLOUD_SECRET_KEY="new")
    assert made.returncode == 0, said(made)
    assert "a SECRET_KEY shared by every VM made with it is in it" in made.stdout
    user_data = dist / "cloud-init.yaml"
    assert user_data.stat().st_mode & 0o077 == 0  # it holds secrets: its owner's alone
    assert user_data.stat().st_size < 64 * 1024  # Azure's --custom-data limit

    # The cloud image: Debian's cloud-init, before its first boot, with the seed the cloud
    # gives, and Debian's mirror (the stand-in) as its apt source.
    host.run("apt-get", "install", "--yes", "cloud-init", "locales")
    # Its locale generated, as Debian's cloud images have it (cloud-init's locale module sets
    # it as the system's, and fails on a locale that is not there).
    host.run("sed", "-i", "s/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/", "/etc/locale.gen")
    host.run("locale-gen")
    host.file("/etc/cloud/cloud.cfg.d/90-stand-in-cloud.cfg").write(STAND_IN_CLOUD)
    host.file("/etc/apt/sources.list").write(f"deb [trusted=yes] {url}debian ./\n")
    host.run("mkdir", "-p", "/var/lib/cloud/seed/nocloud")
    seeded = host.copy_in(user_data, "/var/lib/cloud/seed/nocloud")
    host.run("mv", seeded, "/var/lib/cloud/seed/nocloud/user-data")
    host.file("/var/lib/cloud/seed/nocloud/meta-data").write("instance-id: flaskapp-vm-1\n")
    schema = host.run("cloud-init", "schema", "--config-file", "/var/lib/cloud/seed/nocloud/user-data",
                      check=False)
    assert schema.returncode == 0 and "Valid cloud-config" in schema.stdout, said(schema)
    assert not host.file("/opt/venvs/flaskapp").exists

    host.reboot()

    status = cloud_init_status(host)
    assert "status: done" in status and "error" not in status.lower(), status
    assert host.wait_until_serving(timeout=60).text == "Hello World!"
    assert host.get("/healthz").json() == {"status": "ok", "version": version(deb)}
    assert host.file("/etc/flaskapp/site.conf").content == SITE
    assert "app.example.org" in host.run("flaskapp-site", "status").stdout
    env = host.file("/etc/flaskapp/secrets.env")
    assert (env.content, env.mode) == (APP_ENV, 0o600)
    key = host.file("/etc/flaskapp/secret_key")
    assert (key.content in user_data.read_text(), key.group, key.mode) == (True, "flaskapp", 0o640)
    installs = host.file("/var/log/dpkg.log").content.count("status installed flaskapp")

    # A second boot: cloud-init runs nothing of the user data again.
    host.reboot()
    assert "status: done" in cloud_init_status(host)
    assert host.wait_until_serving(timeout=60).text == "Hello World!"
    assert host.file("/var/log/dpkg.log").content.count("status installed flaskapp") == installs


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short path: gpg-agent's socket lives in it (test_apt_repo's dist fixture says why)."""
    top = Path(tempfile.mkdtemp(prefix="fa-cloud-", dir="/tmp"))
    yield top
    for gnupghome in top.glob("**/gnupg"):
        subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(gnupghome)})
    shutil.rmtree(top)


def test_make_cloud_init_refuses_what_would_not_work(deb: Path, short_tmp: Path) -> None:
    tmp_path = short_tmp
    dist = tmp_path / "dist"
    dist.mkdir()
    missing = make_cloud_init(dist)
    assert missing.returncode != 0 and "run `make repo` first" in missing.stderr
    gnupghome = tmp_path / "home/gnupg"
    assert publish(dist, deb, gnupghome=gnupghome).returncode == 0
    unset = make_cloud_init(dist, FLASKAPP_CLOUD_SUITE=deb_suite(deb))
    assert unset.returncode != 0 and "FLASKAPP_REPO_URL=" in unset.stderr
    assert publish(dist, gnupghome=gnupghome, url="http://repo.example.org/").returncode == 0
    other = make_cloud_init(dist, FLASKAPP_CLOUD_SUITE="sid")
    assert other.returncode != 0 and "no build for sid is published" in other.stderr
    (tmp_path / "short").write_text("short\n")
    weak = make_cloud_init(dist, FLASKAPP_CLOUD_SUITE=deb_suite(deb),
                           FLASKAPP_CLOUD_SECRET_KEY=str(tmp_path / "short"))
    assert weak.returncode != 0 and "at least 32 characters" in weak.stderr
    assert not (dist / "cloud-init.yaml").exists()
    # With no secrets asked for: none in it, and the output says how VMs share a key.
    plain = make_cloud_init(dist, FLASKAPP_CLOUD_SUITE=deb_suite(deb))
    assert plain.returncode == 0, said(plain)
    assert "each VM makes its own SECRET_KEY" in plain.stdout
    text = (dist / "cloud-init.yaml").read_text()
    assert text.startswith("#cloud-config\n")
    assert "secret_key" not in text and "secrets.env" not in text


def install_in_a_chroot(host: Host, deb: Path) -> subprocess.CompletedProcess:
    """What an image builder does (mmdebstrap's --customize-hook='chroot "$1" apt-get install
    …', Packer's chroot builder): apt in a chroot of the image, with no systemd running, and
    daemons kept from starting as mmdebstrap keeps them (a policy-rc.d that says no). In the
    host's network namespace, whose firewall is not this machine's."""
    path = host.copy_in(deb)
    root = host.root
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    install = (f"mount -t proc proc {root}/proc && mount --rbind /dev {root}/dev && "
               f"chroot {root} apt-get install --yes {path}; status=$?; rm {policy}; exit $status")
    return subprocess.run(
        ["ip", "netns", "exec", host.link.name, "unshare", "--mount", "--fork", "sh", "-c", install],
        capture_output=True, text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"},
    )


def test_an_image_with_the_package_installed_in_a_chroot_boots_serving(
        image: Path, counting_deb: Path, tmp_path: Path) -> None:
    host = Host(image, tmp_path / "image", name="flaskapp-chroot-image")
    try:
        host.create()
        installed = install_in_a_chroot(host, counting_deb)
        assert installed.returncode == 0, said(installed)
        assert "run at the first boot, by flaskapp-first-boot.service" in installed.stdout
        # No machine made from the image shares a key with another: none is in the image.
        assert not (host.root / "etc/flaskapp/secret_key").exists()
        assert (host.root / FIRST_BOOT_RECORD.lstrip("/")).read_text() == "install\n"

        host.boot()

        # Nobody logs in: the app is set up (its install command) before its first request.
        assert host.wait_until_serving(timeout=60).text == "Hello World!"
        assert host.get("/visits").text == "101"
        first_boot = host.run("journalctl", "--boot", "-u", "flaskapp-first-boot", "--output=cat").stdout
        assert "running the app's install command: flaskapp init-counter" in first_boot
        assert not host.file(FIRST_BOOT_RECORD).exists
        assert host.file("/etc/flaskapp/secret_key").group == "flaskapp"
        # nginx serves its static files (the link configure makes once the app is loaded).
        host.run("systemctl", "stop", "flaskapp.socket", "flaskapp.service")
        assert host.get("/static/app.css").text == STYLE
        host.run("systemctl", "start", "flaskapp.socket")

        # A second boot runs nothing again: the count goes on.
        host.reboot()
        host.wait_until_serving(timeout=60)
        assert host.get("/visits").text == "102"
        assert host.file(f"{STATE}/flaskapp-instance/visits").content == "102"
        condition = host.run("systemctl", "show", "--property=ConditionResult", "flaskapp-first-boot").stdout
        assert condition.strip() == "ConditionResult=no"
        failed = host.run("systemctl", "list-units", "--failed", "--no-legend", "flaskapp*").stdout
        assert failed.strip() == ""
    finally:
        host.destroy()
