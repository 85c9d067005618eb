"""Taskboard, the example app of the end-to-end tests, on its own (Flask test client): what
those tests rely on it doing, checked where a failure is quick to read."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask

from ..apps import taskboard
from ..apps import taskboard_versions as versions


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Imports Taskboard at a version; each version's app shares one database."""
    database = tmp_path / "taskboard.sqlite"

    def load_version(version: int) -> Flask:
        for name in [name for name in sys.modules if name.partition(".")[0] == "taskboard"]:
            del sys.modules[name]
        source = tmp_path / f"v{version}"
        taskboard(source, version)
        monkeypatch.syspath_prepend(str(source))
        module = importlib.import_module("taskboard")
        return module.create_app({"DATABASE": str(database), "SECRET_KEY": "test"})

    yield load_version
    for name in [name for name in sys.modules if name.partition(".")[0] == "taskboard"]:
        del sys.modules[name]


def cli(app: Flask, *args: str) -> Result:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def add_task(app: Flask, title: str, **fields: str) -> None:
    client = app.test_client()
    client.post("/auth/register", data={"username": "ada", "password": "pw"})
    client.post("/auth/login", data={"username": "ada", "password": "pw"})
    assert client.post("/create", data={"title": title, **fields}).status_code == 302


def test_version_1_creates_its_database_with_its_command_and_keeps_tasks(load) -> None:
    app = load(1)
    assert "Initialized the database" in cli(app, "init-db").output
    add_task(app, "water the plants")
    page = app.test_client().get("/").text
    assert "water the plants" in page
    assert versions(page) == ("1", "1")


def test_version_2_migrates_version_1s_database(load) -> None:
    version_1 = load(1)
    cli(version_1, "init-db")
    add_task(version_1, "water the plants")
    app = load(2)
    assert cli(app, "migrate").output.strip() == "applied: 0002-task-priority.sql"
    assert cli(app, "migrate").output.strip() == "the schema is up to date"
    add_task(app, "fix the roof", priority="1")
    page = app.test_client().get("/").text
    assert versions(page) == ("2", "2")
    assert re.search(r'"priority">high</td><td class="title">fix the roof', page)
    assert re.search(r'"priority">normal</td><td class="title">water the plants', page)


def test_the_login_is_required_to_add_a_task(load) -> None:
    app = load(1)
    cli(app, "init-db")
    response = app.test_client().post("/create", data={"title": "x"})
    assert response.status_code == 302 and response.location.endswith("/auth/login")
