"""The app's ``.flaskenv``: the settings its authors ship for ``flask`` (``FLASK_APP=microblog.py``),
read as Flask reads it (python-dotenv's format: ``KEY=value``, ``export``, quotes, ``#``
comments), without needing python-dotenv in the venv.

It holds defaults: the environment (flaskapp.env, the unit, a drop-in) wins over it. What only
configures Flask's development server is left out: in production it would switch the debug
mode on (``FLASK_DEBUG``) or mean nothing (``FLASK_RUN_*``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: Development server settings, not applied.
DEVELOPMENT_ONLY = re.compile(r"FLASK_(DEBUG|ENV|RUN_\w+)")
LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*")


class FlaskenvError(ValueError):
    pass


def _value(raw: str) -> str:
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1)
        if end == -1:
            raise FlaskenvError(f"unterminated quote in {raw!r}")
        value = raw[1:end]
        return value.encode().decode("unicode_escape") if quote == '"' and "\\" in value else value
    return re.sub(r"\s+#.*$", "", raw)  # an unquoted value ends at " #"


def parse(text: str, source: str = ".flaskenv") -> dict[str, str]:
    """Every KEY=value of `text`, in order; a line that is neither an assignment, a comment
    nor blank is an error naming it."""
    settings = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = LINE.fullmatch(line)
        if not match:
            raise FlaskenvError(f"{source}, line {number}: not KEY=value: {line.strip()!r}")
        try:
            settings[match[1]] = _value(match[2])
        except FlaskenvError as error:
            raise FlaskenvError(f"{source}, line {number}: {error}") from None
    return settings


def defaults(path: Path) -> dict[str, str]:
    """What `path` (the app's .flaskenv, if it has one) sets that the platform applies."""
    if not path.is_file():
        return {}
    return {key: value for key, value in parse(path.read_text(), str(path)).items()
            if not DEVELOPMENT_ONLY.fullmatch(key)}


def apply(path: Path) -> None:
    """`path`'s settings as environment defaults, before the app's module is imported."""
    for key, value in defaults(path).items():
        os.environ.setdefault(key, value)
