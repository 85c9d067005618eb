"""Example apps that the tests put in the slot, the way a developer would (README, "Your own
app"): Taskboard is version 1 in taskboard/, and version 2 is the change in taskboard-2.patch
(a migration that adds a column, with the view and templates that use it). Blog is a
repository laid out as Miguel Grinberg's microblog (a top-level config.py and microblog.py, an
app/ package, Flask-Migrate's migrations/ beside it, a .flaskenv, Babel translations that are
compiled at build time, settings from DATABASE_URL and LOG_TO_STDOUT); blog-2.patch is its
version 2 (a second migration)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

APPS = Path(__file__).parent


def taskboard(destination: Path, version: int = 1) -> Path:
    """Writes Taskboard's package, at `version` (1 or 2), to destination/taskboard."""
    package = destination / "taskboard"
    shutil.copytree(APPS / "taskboard", package, ignore=shutil.ignore_patterns("__pycache__"))
    if version == 2:
        subprocess.run(["patch", "--quiet", "--strip=1", f"--directory={package}",
                        f"--input={APPS / 'taskboard-2.patch'}"], check=True)
    return package


def blog(destination: Path, version: int = 1) -> Path:
    """Writes Blog's repository, at `version` (1 or 2), to destination, as it is."""
    shutil.copytree(APPS / "blog", destination, ignore=shutil.ignore_patterns("__pycache__", "*.mo"),
                    dirs_exist_ok=True)
    if version == 2:
        subprocess.run(["patch", "--quiet", "--strip=1", f"--directory={destination}",
                        f"--input={APPS / 'blog-2.patch'}"], check=True)
    return destination


def jobqueue(destination: Path, version: int = 1) -> Path:
    """Writes Jobqueue's repository (a Procfile app with an rq worker), at `version`, as it is:
    version 2 changes its code and, by its release command, its schema."""
    shutil.copytree(APPS / "jobqueue", destination, ignore=shutil.ignore_patterns("__pycache__"),
                    dirs_exist_ok=True)
    module = destination / "jobqueue/__init__.py"
    module.write_text(module.read_text().replace("VERSION = 1\n", f"VERSION = {version}\n"))
    return destination


def taskboard_versions(page: str) -> tuple[str, str] | None:
    """(the code's version, the templates' version) that rendered a Taskboard page."""
    code = re.search(r"<footer>Taskboard (\d+)</footer>", page)
    templates = re.search(r'<meta name="templates" content="(\d+)">', page)
    return (code.group(1), templates.group(1)) if code and templates else None
