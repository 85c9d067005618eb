"""deploy/'s Ansible roles: what they write, and what they keep out of Ansible's output."""

from __future__ import annotations

import re

from ..conftest import REPO

SERVER_TASKS = REPO / "deploy/roles/flaskapp_server/tasks/main.yml"
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
