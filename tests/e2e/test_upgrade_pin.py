"""While an upgrade is not configured, the version that ran before it serves, whatever
happens to the host: a failed migration, a crashed master, a restart, a reboot, a power cut
during the unpack or during the migration. Only a configure that succeeds moves the service
to the new version."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from .apps import STATE
from .conftest import hosts_with_nginx
from .host import Host, HostError, eventually, said

host = hosts_with_nginx()  # servers with nginx and python3 already (tests/e2e/conftest.py)

RUNNING = "/opt/venvs/.flaskapp-running"
PLATFORM = "opt/venvs/flaskapp/lib/python3/site-packages/flaskapp_platform"


def version(deb: Path) -> str:
    return deb.name.split("_")[1]


def serves(host: Host, deb: Path) -> bool:
    """Whether the site answers with `deb`'s version (within a minute of a boot)."""
    host.wait_until_serving(timeout=60, path="/healthz", body=None)
    return host.get("/healthz").json()["version"] == version(deb)


def cli_version(host: Host) -> str:
    """The version /usr/bin/flaskapp runs: the installed one, pinned or not."""
    shell = host.run("sh", "-c", "echo 'from flaskapp_platform.health import VERSION; "
                     "print(\"v=\" + VERSION)' | flaskapp shell")
    return re.search(r"v=(\S+)", shell.stdout).group(1)


def set_env(host: Host, *lines: str) -> None:
    env = host.file("/etc/flaskapp/flaskapp.env")
    kept = [line for line in env.content.splitlines() if not line.startswith(("FLASKAPP_MIGRATION",))]
    env.write("\n".join([*kept, *lines]) + "\n")


def dpkg_status(host: Host) -> str:
    return host.run("dpkg-query", "--show", "--showformat=${Status}", "flaskapp").stdout


def configure_with_the_migration_allowed(host: Host, migrating_deb: Path, visits: str) -> None:
    """`dpkg --configure -a` once the migration may run: the new version serves, migrated,
    with the data kept (the visits count), and the copy of the old one is gone."""
    set_env(host, "FLASKAPP_MIGRATION_OK=true")
    host.run("dpkg", "--configure", "-a")
    assert serves(host, migrating_deb)
    assert host.file(f"{STATE}/flaskapp-instance/migrated").content == "yes"
    assert host.get("/visits").text == visits
    assert not host.file(RUNNING).exists


@pytest.fixture
def counting(host: Host, counting_deb: Path) -> Host:
    """A host serving the counter app, whose state has one visit."""
    host.apt_install(counting_deb)
    host.wait_until_serving()
    assert host.get("/visits").text == "101"
    return host


def test_a_failing_migration_leaves_the_old_version_serving_until_fixed(
    counting: Host, counting_deb: Path, migrating_deb: Path
) -> None:
    host = counting
    # Meanwhile the app's jobs end and its workers restart, and each runs unpin (its
    # ExecStopPost=/ExecStartPre=): the copy that preinst is making is not theirs to delete.
    units_stopping = host.start("timeout", "300", "sh", "-c",
                                "while [ ! -e /root/upgraded ]; do /usr/lib/flaskapp/unpin; done")

    result = host.apt_install(migrating_deb, check=False)

    host.run("touch", "/root/upgraded")
    units_stopping.wait(timeout=60)
    assert result.returncode != 0
    assert "database unreachable" in said(result)
    assert "the app's upgrade command 'flaskapp migrate-counter' failed" in said(result)
    assert host.get("/visits").text == "102"  # the old version, and its data
    assert serves(host, counting_deb)
    # Its workers replaced meanwhile (a reload replaces them all) still run the old version,
    # from the copy preinst kept, though dpkg has unpacked the new one.
    host.run("systemctl", "reload", "flaskapp")
    assert serves(host, counting_deb)
    assert host.file(RUNNING).is_directory
    # The admin's CLI is the installed version's: the one to fix.
    assert cli_version(host) == version(migrating_deb)
    # A crash of the master (systemd starts it again), a restart, a reboot: the old version.
    host.kill(host.service("flaskapp.service").main_pid)
    eventually(lambda: host.service("flaskapp.service").is_active, what="flaskapp restarted")
    assert serves(host, counting_deb)
    host.run("systemctl", "restart", "flaskapp")
    assert serves(host, counting_deb)
    host.reboot()
    assert serves(host, counting_deb)
    assert host.get("/visits").text == "103"

    configure_with_the_migration_allowed(host, migrating_deb, visits="104")
    host.reboot()
    assert serves(host, migrating_deb)


def test_the_admin_may_serve_the_unconfigured_version_deliberately(
    host: Host, counting_deb: Path, migrating_deb: Path
) -> None:
    host.apt_install(counting_deb)
    assert host.apt_install(migrating_deb, check=False).returncode != 0
    assert serves(host, counting_deb)
    unpinned = host.run("flaskapp-site", "unpin")
    assert "has not succeeded" in said(unpinned)
    assert serves(host, migrating_deb)
    assert not host.file(RUNNING).exists
    assert "no upgrade is waiting" in host.run("flaskapp-site", "unpin").stdout
    set_env(host, "FLASKAPP_MIGRATION_OK=true")
    host.run("dpkg", "--configure", "-a")
    assert serves(host, migrating_deb)


def test_a_power_cut_during_the_migration_boots_into_the_old_version(
    counting: Host, counting_deb: Path, migrating_deb: Path
) -> None:
    host = counting
    set_env(host, "FLASKAPP_MIGRATION_OK=true", "FLASKAPP_MIGRATION_PAUSE=600")
    upgrade = host.start("apt-get", "install", "--yes", host.copy_in(migrating_deb))
    migrating = host.root / STATE.lstrip("/") / "flaskapp-instance/migrating"
    eventually(migrating.exists, timeout=120, what="the migration running")

    host.power_cut()
    upgrade.wait(30)

    assert serves(host, counting_deb)
    assert host.get("/visits").text == "102"
    assert "half-configured" in dpkg_status(host)
    # The documented recovery: configure again.
    configure_with_the_migration_allowed(host, migrating_deb, visits="103")


def test_a_power_cut_during_the_unpack_boots_into_the_old_version(
    counting: Host, counting_deb: Path, migrating_deb: Path
) -> None:
    host = counting
    set_env(host, "FLASKAPP_MIGRATION_OK=true")
    upgrade = host.start("apt-get", "install", "--yes", host.copy_in(migrating_deb))
    # The first trace of the new version in the venv: dpkg has begun writing its files.
    platform = host.root / PLATFORM
    deadline = time.monotonic() + 120
    while not (os.path.exists(platform / "DEB_VERSION.dpkg-new")
               or version(migrating_deb) in (platform / "DEB_VERSION").read_text()):
        if time.monotonic() > deadline or upgrade.poll() is not None:
            raise HostError(f"never saw the unpack: {upgrade.stdout.read()[-2000:]}")
        time.sleep(0.001)

    host.power_cut()
    upgrade.wait(30)

    status = dpkg_status(host)
    assert "half-installed" in status or "unpacked" in status, status
    assert serves(host, counting_deb)
    assert host.get("/visits").text == "102"
    # The documented recovery: dpkg's own (it finishes what it can: nothing of flaskapp's, a
    # half-installed package cannot be configured), then the install again.
    recovered = host.run("dpkg", "--configure", "-a", check=False)
    assert serves(host, counting_deb), said(recovered)
    host.apt_install(migrating_deb)
    assert serves(host, migrating_deb)
    assert host.get("/visits").text == "103"
    assert not host.file(RUNNING).exists


def test_a_purge_while_an_upgrade_waits_for_its_configure_leaves_nothing_and_keeps_opt(
    counting: Host, migrating_deb: Path
) -> None:
    host = counting
    assert host.apt_install(migrating_deb, check=False).returncode != 0
    assert host.file(RUNNING).is_directory  # the old version's copy, serving

    host.run("apt-get", "purge", "--yes", "flaskapp")

    # Nothing of the package or its copy, and the /opt that the FHS wants, which dpkg would
    # have taken away with the package's directories once the copy had kept them from going.
    assert not host.file("/opt/venvs").exists
    assert host.file("/opt").is_directory
    assert "flaskapp" not in host.run("dpkg-query", "--show", "--showformat=${Package}\\n").stdout.split()
