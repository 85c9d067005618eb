"""A second build of the package with a higher version: what an upgrade installs."""

from __future__ import annotations

import email.utils
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

NEWER_VERSION_SUFFIX = "+e2e1"


def build_newer_deb(source_tree: Path, workdir: Path, suffix: str = NEWER_VERSION_SUFFIX,
                    change: Callable[[Path], None] | None = None, suite: str | None = None) -> Path:
    """Builds a copy of source_tree whose version (setup.cfg and debian/changelog) has
    `suffix` added, after `change` (given the copy) edited it, with `make deb` (for another
    release: `make deb SUITE=suite`), and returns the .deb."""
    source = workdir / "source"
    shutil.copytree(source_tree, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist"))
    if change is not None:
        change(source)
    old = subprocess.run(
        ["dpkg-parsechangelog", "-S", "Version"], cwd=source, check=True, capture_output=True, text=True
    ).stdout.strip()
    new = old + suffix
    setup_cfg = source / "setup.cfg"
    setup_cfg.write_text(re.sub(r"(?m)^version = .*$", f"version = {new}", setup_cfg.read_text()))
    changelog = source / "debian/changelog"
    date = email.utils.format_datetime(datetime.now(UTC))
    entry = (
        f"flaskapp ({new}) bookworm; urgency=medium\n\n  * Upgrade under test.\n\n"
        f" -- flaskapp tests <tests@flaskapp.example.org>  {date}\n\n"
    )
    changelog.write_text(entry + changelog.read_text())
    subprocess.run(["make", "-C", str(source), "deb", *([f"SUITE={suite}"] if suite else [])],
                   check=True, stdout=subprocess.DEVNULL)
    # The release suffix (~deb12) comes after: packaging/release.
    (built,) = (source / "dist").glob(f"**/flaskapp_{new}~*_*.deb")
    return built


def changelog_version(text: str) -> str:
    return re.match(r"^\S+ \(([^)]+)\)", text).group(1)


def previous_release(source_tree: Path) -> str | None:
    """The last commit before the version in debian/changelog became the current one: the
    release that hosts upgrade from. None without that much git history (a shallow clone)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(source_tree), *args],
                              check=True, capture_output=True, text=True).stdout

    current = changelog_version((source_tree / "debian/changelog").read_text())
    bump = None  # the commit that made the current version: the first of its work
    for commit in git("log", "--format=%H", "--", "debian/changelog").split():
        if changelog_version(git("show", f"{commit}:debian/changelog")) != current:
            return f"{bump}^" if bump else "HEAD"
        bump = commit
    return None


def build_release(source_tree: Path, commit: str, workdir: Path) -> Path:
    """Builds the package as it was at `commit`, with that commit's own `make deb`."""
    source = workdir / "source"
    source.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(source_tree), "archive", commit],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    subprocess.run(["make", "-C", str(source), "deb"], check=True, stdout=subprocess.DEVNULL)
    (built,) = (source / "dist").glob("flaskapp_*.deb")
    return built
