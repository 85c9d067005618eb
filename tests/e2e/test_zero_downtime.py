"""Operations under load through nginx, across the veth: not one request may fail."""

from __future__ import annotations

import time
from pathlib import Path

from .host import Host
from .load import load

# wrk runs this long; each event starts after a second of steady load.
LOAD_SECONDS = 8
LEAD_SECONDS = 1.0


def url(host: Host) -> str:
    return f"http://{host.address}/"


def test_restart_under_load_fails_no_request(installed: Host) -> None:
    with load(url(installed), LOAD_SECONDS) as result:
        time.sleep(LEAD_SECONDS)
        installed.run("systemctl", "restart", "flaskapp")
    assert result.requests > 1000, result
    assert result.failed == 0, result


def test_reload_under_load_fails_no_request(installed: Host) -> None:
    with load(url(installed), LOAD_SECONDS) as result:
        time.sleep(LEAD_SECONDS)
        installed.run("systemctl", "reload", "flaskapp")
    assert result.requests > 1000, result
    assert result.failed == 0, result


def test_apt_upgrade_under_load_fails_no_request(installed: Host, newer_deb: Path) -> None:
    path = installed.copy_in(newer_deb)
    with load(url(installed), LOAD_SECONDS + 6) as result:
        time.sleep(LEAD_SECONDS)
        installed.run("apt-get", "install", "--yes", path)
    assert result.requests > 1000, result
    assert result.failed == 0, result
    assert installed.get("/healthz").json()["version"] == newer_deb.name.split("_")[1]


def test_killed_master_is_restarted_and_no_get_fails(installed: Host) -> None:
    master = installed.service("flaskapp.service").main_pid
    with load(url(installed), LOAD_SECONDS) as result:
        time.sleep(LEAD_SECONDS)
        installed.run("kill", "-9", str(master))
    assert installed.service("flaskapp.service").main_pid not in (0, master)
    assert result.requests > 1000, result
    assert result.failed == 0, result

