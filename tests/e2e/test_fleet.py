"""A fleet: three app servers behind an HAProxy load balancer, set up, upgraded and rolled back
by deploy/'s Ansible playbooks, run from this machine over ssh as an admin would run them
(tests/e2e/fleet.py builds the fleet).

The tests run in this file's order on the same fleet: each starts where the one before left
it (installed, upgraded, after a failed rollout), as a fleet's life goes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .apps import HEARTBEAT
from .conftest import layer, newer_build
from .fleet import APP_SERVERS, Fleet, install_sshd_and_python, recap, running_fleet
from .host import eventually
from .load import throughout

BROKEN_SUFFIX = "+e2e2"  # after newer_deb's +e2e1: an upgrade from it


def version(deb: Path) -> str:
    return deb.name.split("_")[1]


def upstream(debian_version: str) -> str:
    """0.3.0~deb12 → 0.3.0: what an admin passes as flaskapp_version."""
    return debian_version.split("~deb")[0]


def fail_the_health_check(source: Path) -> None:
    """A release whose app installs and serves / but reports a failing check on /healthz (as
    an app that cannot reach its database would), through the platform's documented hook."""
    init = source / "src/flaskapp/__init__.py"
    text = init.read_text()
    assert "    return app\n" in text
    init.write_text(text.replace(
        "    return app\n",
        '    app.extensions.setdefault("health_checks", {})["database"] = lambda: False\n    return app\n',
    ))


@pytest.fixture(scope="module")
def broken_deb(newer_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return newer_build(tmp_path_factory, BROKEN_SUFFIX, fail_the_health_check)


@pytest.fixture(scope="module")
def fleet(image: Path, deb: Path, newer_deb: Path, broken_deb: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    # Cloud servers: sshd and python3 installed, from a layer made once (install_sshd_and_python).
    root = layer(tmp_path_factory, "sshd", [image], install_sshd_and_python)
    with running_fleet(image, [deb, newer_deb, broken_deb], tmp_path_factory.mktemp("fleet"), root) as fleet:
        yield fleet


def test_site_sets_up_the_fleet_and_a_second_run_changes_nothing(fleet: Fleet, deb: Path) -> None:
    result = fleet.playbook("site.yml", flaskapp_version=upstream(version(deb)))
    assert result.returncode == 0, result.stdout + result.stderr

    assert fleet.versions() == dict.fromkeys(APP_SERVERS, version(deb))
    fleet.assert_all_up()
    # Round robin: nine requests through the balancer, three to each app server.
    for _ in range(9):
        response = fleet.balancer.get("/")
        assert (response.status_code, response.text) == (200, "Hello World!")
    # Each app server's nginx logs the client's own address, from the balancer's
    # X-Forwarded-For (TRUSTED_PROXIES, which the role writes), not the balancer's.
    client = fleet.balancer.link.local_address
    for name, host in fleet.apps.items():
        assert f"TRUSTED_PROXIES={fleet.balancer.address}" in host.file("/etc/flaskapp/site.conf").content
        through_balancer = [line for line in host.file("/var/log/nginx/access.log").content.splitlines()
                            if '"GET / ' in line]
        assert len(through_balancer) == 3, (name, through_balancer)
        assert all(line.startswith(f"{client} ") for line in through_balancer), (name, through_balancer)
    # One SECRET_KEY for the fleet: a session signed by one server is valid on the others.
    assert len({host.file("/etc/flaskapp/secret_key").content for host in fleet.apps.values()}) == 1
    for host in fleet.apps.values():
        assert "FLASKAPP_FLEET=test" in host.file("/etc/flaskapp/flaskapp.env").content

    again = fleet.playbook("site.yml", flaskapp_version=upstream(version(deb)))
    assert again.returncode == 0, again.stdout + again.stderr
    changed = {host: counts["changed"] for host, counts in recap(again.stdout).items()}
    assert changed == dict.fromkeys(("lb", *APP_SERVERS), 0), again.stdout


def test_a_rolling_upgrade_under_load_fails_no_request(fleet: Fleet, newer_deb: Path) -> None:
    result = {}
    load = throughout(fleet.url, lambda: result.update(
        run=fleet.playbook("upgrade.yml", flaskapp_version=upstream(version(newer_deb)))), 600)

    assert result["run"].returncode == 0, result["run"].stdout + result["run"].stderr
    assert fleet.versions() == dict.fromkeys(APP_SERVERS, version(newer_deb))
    fleet.assert_all_up()
    assert load.requests > 0 and load.failed == 0, load
    # Its scheduled job (every 2 s) runs on one app server alone: the first (flaskapp_jobs_host).
    eventually(lambda: fleet.apps["app1"].file(HEARTBEAT).exists, what="app1's heartbeat job ran")
    time.sleep(5)
    assert [name for name, host in fleet.apps.items() if host.file(HEARTBEAT).exists] == ["app1"]
    assert [name for name, host in fleet.apps.items()
            if host.service("flaskapp-job@heartbeat.timer").is_active] == ["app1"]


def test_a_broken_version_stops_the_rollout_and_rolls_its_host_back(
    fleet: Fleet, newer_deb: Path, broken_deb: Path
) -> None:
    untouched = {name: fleet.apps[name].file("/var/log/dpkg.log").content for name in ("app2", "app3")}
    result = {}
    load = throughout(fleet.url, lambda: result.update(run=fleet.playbook(
        "upgrade.yml", flaskapp_version=upstream(version(broken_deb)), flaskapp_health_timeout=15)), 600)

    run = result["run"]
    assert run.returncode != 0, run.stdout
    said = run.stdout + run.stderr
    assert "Rollout stopped at app1: Wait until app1's /healthz is ok" in said, said
    assert f"app1 is back on {version(newer_deb)} and in the balancer's pool" in said, said
    assert "Not reached, untouched: app2, app3." in said, said
    assert fleet.versions() == dict.fromkeys(APP_SERVERS, version(newer_deb))
    fleet.assert_all_up()
    for name, log in untouched.items():
        assert fleet.apps[name].file("/var/log/dpkg.log").content == log, name
    assert load.requests > 0 and load.failed == 0, load


def test_a_rollback_under_load_fails_no_request(fleet: Fleet, deb: Path) -> None:
    result = {}
    # A full Debian version works as well as an upstream one.
    load = throughout(fleet.url, lambda: result.update(
        run=fleet.playbook("rollback.yml", flaskapp_version=version(deb))), 600)

    assert result["run"].returncode == 0, result["run"].stdout + result["run"].stderr
    assert fleet.versions() == dict.fromkeys(APP_SERVERS, version(deb))
    fleet.assert_all_up()
    assert load.requests > 0 and load.failed == 0, load
