"""The app's .flaskenv, read as python-dotenv reads it (flaskapp_platform.flaskenv)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flaskapp_platform import flaskenv


def test_assignments_quotes_export_and_comments() -> None:
    text = ("# Flask's settings\nFLASK_APP=microblog.py\nexport MAIL_PORT = 25\nNAME='a # b'\n"
            'GREETING="hi\\tthere"\nLOG=1 # to stdout\n\n')
    assert flaskenv.parse(text) == {"FLASK_APP": "microblog.py", "MAIL_PORT": "25", "NAME": "a # b",
                                    "GREETING": "hi\tthere", "LOG": "1"}


@pytest.mark.parametrize("line", ["just words", "NAME='unterminated"])
def test_a_line_that_is_no_assignment_is_an_error_naming_it(line: str) -> None:
    with pytest.raises(flaskenv.FlaskenvError, match=r"\.flaskenv, line 2"):
        flaskenv.parse(f"A=1\n{line}\n")


def test_the_development_servers_settings_are_left_out(tmp_path: Path) -> None:
    (tmp_path / ".flaskenv").write_text(
        "FLASK_APP=x\nFLASK_DEBUG=1\nFLASK_ENV=development\nFLASK_RUN_PORT=8000\n")
    assert flaskenv.defaults(tmp_path / ".flaskenv") == {"FLASK_APP": "x"}
    assert flaskenv.defaults(tmp_path / "none") == {}
