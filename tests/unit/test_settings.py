"""Settings that must agree across files: gunicorn, the units, nginx and the versions."""

from __future__ import annotations

import os
import re
import runpy

import pytest

from ..conftest import REPO

GUNICORN_CONF = REPO / "packaging/config/gunicorn.conf.py"
SERVICE = REPO / "packaging/systemd/flaskapp.service"
NGINX_SITE = REPO / "packaging/nginx/flaskapp"


def gunicorn_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict:
    monkeypatch.delenv("GUNICORN_WORKERS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def unit_seconds(setting: str) -> int:
    match = re.search(rf"(?m)^{setting}=(\d+)$", SERVICE.read_text())
    assert match, f"{setting} missing from {SERVICE.name}"
    return int(match.group(1))


def test_workers_default_to_one_per_cpu_plus_one(monkeypatch: pytest.MonkeyPatch) -> None:
    cpus = len(os.sched_getaffinity(0))
    assert gunicorn_settings(monkeypatch)["workers"] == cpus + 1


def test_web_concurrency_overrides_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gunicorn_settings(monkeypatch, GUNICORN_WORKERS="7")["workers"] == 7


def test_bad_web_concurrency_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit, match="GUNICORN_WORKERS='many'.*number of workers"):
        gunicorn_settings(monkeypatch, GUNICORN_WORKERS="many")


def test_worker_class_is_the_one_gunicorn_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # gunicorn silently runs gthread workers when threads > 1, whatever worker_class says.
    settings = gunicorn_settings(monkeypatch)
    assert settings["worker_class"] != "sync" or settings["threads"] == 1


def test_gunicorn_never_binds_its_own_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    # A bind would replace the socket systemd passes in (and could expose TCP).
    assert "bind" not in gunicorn_settings(monkeypatch)


def test_gunicorn_keepalive_outlasts_nginx_upstream_keepalive(monkeypatch: pytest.MonkeyPatch) -> None:
    nginx_timeout = int(re.search(r"keepalive_timeout (\d+)s;", NGINX_SITE.read_text()).group(1))
    assert gunicorn_settings(monkeypatch)["keepalive"] > nginx_timeout


def test_stop_timeout_outlasts_graceful_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    assert unit_seconds("TimeoutStopSec") > gunicorn_settings(monkeypatch)["graceful_timeout"]
