"""/etc/flaskapp/site.conf is read the way an admin writes it, and a value that means
nothing is refused instead of taken for a yes."""

from __future__ import annotations

from pathlib import Path

import pytest
from flaskapp_site.settings import SettingsError, load

from ..conftest import REPO


def settings_from(tmp_path: Path, text: str, legacy: str | None = None):
    path, legacy_path = tmp_path / "site.conf", tmp_path / "firewall.conf"
    path.write_text(text)
    if legacy is not None:
        legacy_path.write_text(legacy)
    return load(path, legacy_path)


@pytest.mark.parametrize("line", [
    "OPEN_HTTP_PORT=no", "OPEN_HTTP_PORT=No", "OPEN_HTTP_PORT=off", "OPEN_HTTP_PORT='no'",
    'OPEN_HTTP_PORT="NO"', "OPEN_HTTP_PORT=no # managed by ansible", "  OPEN_HTTP_PORT = false ",
    "export OPEN_HTTP_PORT=0", "OPEN_HTTP_PORT=yes\nOPEN_HTTP_PORT=no",
])
def test_every_spelling_of_no_opts_out(tmp_path: Path, line: str) -> None:
    assert settings_from(tmp_path, line + "\n").open_http_port is False


@pytest.mark.parametrize("line", ["OPEN_HTTP_PORT=yes", "OPEN_HTTP_PORT=On", "OPEN_HTTP_PORT=true", ""])
def test_yes_or_nothing_opens(tmp_path: Path, line: str) -> None:
    assert settings_from(tmp_path, line + "\n").open_http_port is True


@pytest.mark.parametrize("line", ["OPEN_HTTP_PORT=nope", "OPEN_HTTP_PORT=", "OPEN_HTTP_PORT='no",
                                  "OPEN_HTTP_PORT no", "DEFAULT_SERVER=sometimes",
                                  "SERVER_NAMES=example.org;evil"])
def test_a_value_that_means_nothing_is_refused_with_where_it_is(tmp_path: Path, line: str) -> None:
    with pytest.raises(SettingsError, match="site.conf"):
        settings_from(tmp_path, line + "\n")


def test_the_older_firewall_conf_still_opts_out_and_site_conf_wins(tmp_path: Path) -> None:
    assert settings_from(tmp_path, "", legacy="OPEN_HTTP_PORT=no\n").open_http_port is False
    assert settings_from(tmp_path, "OPEN_HTTP_PORT=yes\n", legacy="OPEN_HTTP_PORT=no\n").open_http_port


def test_server_names_and_default_server(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "SERVER_NAMES=example.org *.example.org\nDEFAULT_SERVER=No\n")
    assert settings.server_names == ["example.org", "*.example.org"]
    assert settings.default_server == "no"


def test_an_unknown_setting_is_a_warning_not_an_error(tmp_path: Path) -> None:
    assert "unknown setting OPEN_HTTPS_PORT" in settings_from(tmp_path, "OPEN_HTTPS_PORT=no\n").warnings[0]


def test_the_shipped_template_holds_the_defaults() -> None:
    settings = load(REPO / "packaging/site/site.conf", Path("/nonexistent"))
    assert (settings.server_names, settings.default_server, settings.open_http_port) == (["_"], "auto", True)

