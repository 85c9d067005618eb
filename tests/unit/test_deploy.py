"""deploy/'s Ansible roles: what they write, and what they keep out of Ansible's output."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ..conftest import REPO

SERVER_TASKS = REPO / "deploy/roles/flaskapp_server/tasks/main.yml"
SERVER_DEFAULTS = REPO / "deploy/roles/flaskapp_server/defaults/main.yml"
SITE_CONF = REPO / "deploy/roles/flaskapp_server/templates/site.conf.j2"
HAPROXY = REPO / "deploy/roles/haproxy_balancer/templates/haproxy.cfg.j2"


def tasks(path) -> list[str]:
    return ["- name:" + task for task in path.read_text().split("\n- name:")[1:]]


def test_no_task_that_handles_the_secret_key_shows_it() -> None:
    # A task's result is printed with -v, and kept by callbacks: the key must never be in it.
    handling = [task for task in tasks(SERVER_TASKS) if "secret_key" in task]
    assert len(handling) >= 2
    for task in handling:
        assert re.search(r"(?m)^  no_log: true\b", task), task.splitlines()[0]


def test_the_apps_environment_is_readable_by_the_service_alone() -> None:
    (task,) = [task for task in tasks(SERVER_TASKS) if "dest: /etc/flaskapp/flaskapp.env" in task]
    assert 'mode: "0640"' in task and "group: flaskapp" in task and "owner: root" in task


def test_haproxy_cuts_off_a_client_slow_to_send_its_headers() -> None:
    assert re.search(r"(?m)^\ttimeout http-request \d+s$", HAPROXY.read_text())


def test_the_fleets_jobs_run_on_one_app_server_and_workers_where_the_inventory_says(tmp_path: Path) -> None:
    """site.conf as the role writes it for each app server (its template, rendered by Ansible
    itself, with the role's defaults under the inventory's host variables)."""
    if not shutil.which("ansible-playbook"):
        pytest.skip("no Ansible here")
    (tmp_path / "group_vars").mkdir()
    shutil.copy(SERVER_DEFAULTS, tmp_path / "group_vars/all.yml")
    (tmp_path / "inventory.yml").write_text(
        "all:\n  children:\n    app_servers:\n      hosts:\n        app1:\n        app2:\n"
        "          flaskapp_processes: {worker: 2, clock: 0}\n        app3:\n")
    (tmp_path / "play.yml").write_text(
        "- hosts: app_servers\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.template:\n"
        f"        src: {SITE_CONF}\n"
        f"        dest: \"{tmp_path}/{{{{ inventory_hostname }}}}.conf\"\n"
        "      vars: {flaskapp_site_settings: {SERVER_NAMES: app.example.org}}\n")

    def rendered(*extra: str) -> dict[str, list[str]]:
        subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml"),
                        *extra], check=True, capture_output=True, text=True)
        return {host: [line for line in (tmp_path / f"{host}.conf").read_text().splitlines()
                       if not line.startswith("#")] for host in ("app1", "app2", "app3")}
    assert rendered() == {
        "app1": ["JOBS=yes", "SERVER_NAMES=app.example.org"],
        "app2": ["JOBS=no", "PROCESSES=clock=0 worker=2", "SERVER_NAMES=app.example.org"],
        "app3": ["JOBS=no", "SERVER_NAMES=app.example.org"]}
    # Moving the jobs is one change.
    moved = rendered("-e", "flaskapp_jobs_host=app3")
    assert [host for host, lines in moved.items() if "JOBS=yes" in lines] == ["app3"]
