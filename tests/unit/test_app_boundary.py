"""What root takes from the app's side: the app's description of itself, as a hostile app's
user would write it, and the app's output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flaskapp_site import app_boundary
from flaskapp_site.app_boundary import Description, Refused

from .test_nginx_site import a_venv


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    return a_venv(tmp_path)


def said(url_path: object, folder: object) -> str:
    return "the app's own print\n" + json.dumps({"static_url_path": url_path, "static_folder": folder}) + "\n"


def test_an_apps_static_folder_in_the_venv_is_served(venv: Path) -> None:
    folder = f"{venv}/lib/python3.13/site-packages/blog/static"
    assert app_boundary.description(said("/static", folder), venv) == Description("/static", folder)
    assert app_boundary.description(said("/static", f"{venv}/lib/python3/site-packages/blog/static"), venv)


def test_no_static_folder_or_one_at_the_top_of_the_site_is_left_to_gunicorn(venv: Path) -> None:
    folder = f"{venv}/lib/python3.13/site-packages/blog/static"
    assert app_boundary.description(said(None, None), venv) == Description()
    assert app_boundary.description(said("", folder), venv) == Description()
    assert app_boundary.description(said("/", folder), venv) == Description()


@pytest.mark.parametrize("url_path", [
    "/static/ { } location /x { alias /etc/; } #",
    "/static;", "/sta tic", "/static\n", "/$uri", '/"x"', "/a/../b", "static", "/a//b", 7, ["/static"],
])
def test_a_static_url_path_that_is_not_a_plain_path_is_refused(venv: Path, url_path: object) -> None:
    folder = f"{venv}/lib/python3.13/site-packages/blog/static"
    with pytest.raises(Refused, match="static_url_path"):
        app_boundary.description(said(url_path, folder), venv)


@pytest.mark.parametrize("folder", [
    "/", "/etc", "relative/static", "{venv}/var/blog-instance", "{venv}/var",
    "{venv}/lib/python3.13/site-packages/../../../var/x", "{venv}/lib/./python3.13",
    "{venv}/lib/python3.13/site-packages/blog/missing", "{venv}", "{venv}-other/static",
])
def test_a_static_folder_outside_the_venvs_own_files_is_refused(venv: Path, folder: str) -> None:
    with pytest.raises(Refused, match="static_folder"):
        app_boundary.description(said("/static", folder.format(venv=venv)), venv)


def test_a_link_in_the_venv_that_leads_out_of_it_is_refused(venv: Path, tmp_path: Path) -> None:
    (venv / "lib/python3.13/site-packages/blog/out").symlink_to("/etc")
    with pytest.raises(Refused, match="leads out of"):
        app_boundary.description(said("/static", f"{venv}/lib/python3.13/site-packages/blog/out"), venv)


@pytest.mark.parametrize("text", [
    "", "not json", "[]", '{"static_url_path": "/static"}',
    '{"static_url_path": null, "static_folder": null, "extra": "access_log /etc/profile.d/x;"}',
])
def test_a_description_that_is_not_what_describe_writes_is_refused(venv: Path, text: str) -> None:
    with pytest.raises(Refused, match="description"):
        app_boundary.description(text, venv)


def test_the_record_reads_back_as_it_was_accepted(venv: Path) -> None:
    accepted = Description("/static", f"{venv}/lib/python3.13/site-packages/blog/static")
    assert app_boundary.description(app_boundary.as_json(accepted), venv) == accepted


def test_the_apps_output_reaches_the_terminal_without_escapes() -> None:
    output = "ok\x1b]0;owned\x07 \x1b[2Jdone\r\n\tnext\n"
    assert app_boundary.printable(output) == "ok]0;owned [2Jdone\n\tnext\n"
