"""Operations under load through nginx, across the veth: not one request may fail."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .host import Host
from .load import during

# wrk runs this long; each event starts after a second of steady load.
LOAD_SECONDS = 8


def url(host: Host) -> str:
    return f"http://{host.address}/"


@pytest.mark.parametrize("verb", ["restart", "reload"])
def test_systemctl_under_load_fails_no_request(installed: Host, verb: str) -> None:
    result = during(url(installed), lambda: installed.run("systemctl", verb, "flaskapp"), LOAD_SECONDS)
    assert result.requests > 1000, result
    assert result.failed == 0, result


def test_apt_upgrade_under_load_fails_no_request(installed: Host, newer_deb: Path) -> None:
    # An admin's own site since the install: the upgrade must still leave nginx alone (a
    # reload closes idle client keep-alive connections while clients reuse them).
    installed.file("/etc/nginx/sites-available/other").write("server { listen 8081; return 204; }\n")
    installed.run("ln", "-s", "../sites-available/other", "/etc/nginx/sites-enabled/other")
    installed.run("systemctl", "reload", "nginx")
    time.sleep(1)
    path = installed.copy_in(newer_deb)
    result = during(url(installed), lambda: installed.run("apt-get", "install", "--yes", path),
                    LOAD_SECONDS + 6)
    assert result.requests > 1000, result
    assert result.failed == 0, result
    assert installed.get("/healthz").json()["version"] == newer_deb.name.split("_")[1]


def test_killed_master_is_restarted_and_no_get_fails(installed: Host) -> None:
    master = installed.service("flaskapp.service").main_pid
    result = during(url(installed), lambda: installed.kill(master), LOAD_SECONDS)
    assert installed.service("flaskapp.service").main_pid not in (0, master)
    assert result.requests > 1000, result
    assert result.failed == 0, result
