"""Maintainer scripts that finish whatever the admin did before them, put back what a failed
step took away, and leave the build machine alone when run in a chroot."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .host import Host, said
from .network import new_link
from .test_firewall import NFTABLES_CONF, drop_with_nftables, flaskapp_rules, port_80

SITE_LINK = "/etc/nginx/sites-enabled/flaskapp"


def test_remove_finishes_when_the_venv_is_already_gone(installed: Host) -> None:
    installed.run("rm", "-rf", "/opt/venvs/flaskapp")
    installed.run("apt-get", "remove", "--yes", "flaskapp")
    assert not installed.file(SITE_LINK).exists
    assert installed.run("dpkg-query", "-W", "-f=${Status}", "flaskapp").stdout == "deinstall ok config-files"


def test_abort_remove_puts_back_the_site_and_the_port(nginx_host: Host, deb: Path) -> None:
    drop_with_nftables(nginx_host)
    nginx_host.apt_install(deb)
    # What dpkg runs when something after `prerm remove` fails.
    nginx_host.run("/var/lib/dpkg/info/flaskapp.prerm", "remove")
    assert not nginx_host.file(SITE_LINK).exists and port_80(nginx_host) == "filtered"

    nginx_host.run("/var/lib/dpkg/info/flaskapp.postinst", "abort-remove")

    assert nginx_host.file(SITE_LINK).is_symlink
    assert flaskapp_rules(nginx_host, "nftables")
    assert nginx_host.wait_until_serving().text == "Hello World!"


def test_a_dependency_file_that_does_not_compile_is_named_and_the_install_finishes(
    installed: Host, deb: Path
) -> None:
    site_packages = installed.run("sh", "-c", "echo /opt/venvs/flaskapp/lib/python3.*/site-packages").stdout
    installed.file(f"{site_packages.strip()}/broken_dep.py").write("def broken(:\n")
    result = installed.run("apt-get", "install", "--reinstall", "--yes", f"/root/{deb.name}")
    assert "broken_dep.py" in said(result)
    assert "did not compile to bytecode" in said(result)
    assert installed.wait_until_serving().text == "Hello World!"


def test_the_service_runs_when_the_admin_deleted_its_environment_file(installed: Host) -> None:
    installed.run("rm", "/etc/flaskapp/flaskapp.env")
    installed.run("systemctl", "restart", "flaskapp")
    assert installed.wait_until_serving().text == "Hello World!"


def test_a_statoverride_on_the_secret_key_is_honoured(nginx_host: Host, deb: Path) -> None:
    # The admin made the user first, and wants the key readable by the service alone.
    nginx_host.run("adduser", "--system", "--group", "--no-create-home", "flaskapp")
    nginx_host.run("dpkg-statoverride", "--add", "flaskapp", "flaskapp", "0400", "/etc/flaskapp/secret_key")
    nginx_host.apt_install(deb)
    key = nginx_host.file("/etc/flaskapp/secret_key")
    assert (key.user, key.group, key.mode) == ("flaskapp", "flaskapp", 0o400)
    assert nginx_host.get("/healthz").status_code == 200


def test_worker_heartbeats_are_in_memory(installed: Host) -> None:
    master = installed.service("flaskapp.service").main_pid
    worker = installed.file(f"/proc/{master}/task/{master}/children").content.split()[0]
    files = installed.run("sh", "-c", f"ls -l /proc/{worker}/fd").stdout
    assert "/dev/shm/" in files
    mounts = installed.file(f"/proc/{worker}/mountinfo").content.splitlines()
    # mountinfo: "… mount-point … - fstype source options"
    shm = [line for line in mounts if line.split()[4] == "/dev/shm"]
    assert shm and shm[-1].split(" - ")[1].split()[0] == "tmpfs"


def test_installing_in_a_chroot_leaves_the_machines_firewall_alone(
    deb: Path, image: Path, tmp_path: Path
) -> None:
    """A chroot (mmdebstrap, piuparts, sbuild) shares the network namespace of the machine it
    runs on: here, a namespace of the test's whose firewall drops, as a build machine's might."""
    root = tmp_path / "chroot"
    for sub in ("upper", "work", "chroot"):
        (tmp_path / sub).mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={image},upperdir={tmp_path / 'upper'},workdir={tmp_path / 'work'}",
                    str(root)], check=True)
    link = new_link()
    try:
        subprocess.run(["ip", "netns", "exec", link.name, "nft", "-f", "-"],
                       input=NFTABLES_CONF, text=True, check=True)
        before = subprocess.run(["ip", "netns", "exec", link.name, "nft", "list", "ruleset"],
                                check=True, capture_output=True, text=True).stdout
        (root / "root" / deb.name).write_bytes(deb.read_bytes())
        install = (f"mount -t proc proc {root}/proc && mount --rbind /dev {root}/dev && "
                   f"chroot {root} apt-get install --yes nftables /root/{deb.name}")
        result = subprocess.run(
            ["ip", "netns", "exec", link.name, "unshare", "--mount", "--fork", "sh", "-c", install],
            capture_output=True, text=True,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"},
        )
        assert result.returncode == 0, said(result)
        assert "the firewall is left alone" in result.stdout
        after = subprocess.run(["ip", "netns", "exec", link.name, "nft", "list", "ruleset"],
                               check=True, capture_output=True, text=True).stdout
        assert after == before
    finally:
        link.delete()
        subprocess.run(["umount", "--lazy", str(root)])
