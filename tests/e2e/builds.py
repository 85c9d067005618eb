"""A second build of the package with a higher version: what an upgrade installs."""

from __future__ import annotations

import email.utils
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

NEWER_VERSION_SUFFIX = "+e2e1"


def build_newer_deb(source_tree: Path, workdir: Path, suffix: str = NEWER_VERSION_SUFFIX,
                    change: Callable[[Path], None] | None = None, suite: str | None = None,
                    offline: bool = False) -> Path:
    """Builds a copy of source_tree whose version (debian/changelog's) has
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
    changelog = source / "debian/changelog"
    date = email.utils.format_datetime(datetime.now(UTC))
    entry = (
        f"flaskapp ({new}) bookworm; urgency=medium\n\n  * Upgrade under test.\n\n"
        f" -- flaskapp tests <tests@flaskapp.example.org>  {date}\n\n"
    )
    changelog.write_text(entry + changelog.read_text())
    return make_deb(source, suite, offline)


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


HELLO_WORLD = "src/flaskapp"
def hello_world_in_the_slot(source_tree: Path) -> bool:
    return (source_tree / HELLO_WORLD / "__init__.py").is_file()


def with_the_hello_world(source_tree: Path, workdir: Path) -> Path:
    """A copy of source_tree whose slot holds the hello world again, from git (the last commit
    that had it), declared and locked as it was: the platform's own tests run with the hello world, while
    the slot holds a developer's app (README, "Your own app")."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(source_tree), *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    removed = git("log", "-1", "--format=%H", "--diff-filter=D", "--", f"{HELLO_WORLD}/__init__.py")
    revision = f"{removed}^" if removed and not git("ls-tree", "HEAD", HELLO_WORLD) else "HEAD"
    source = workdir / "source"
    shutil.copytree(source_tree, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist"))
    shutil.rmtree(source / "src")
    (source / "src").mkdir()
    # Its locks too: the developer's app's are locked from requirements the hello world has not.
    locks = "locks" if git("ls-tree", revision, "locks") else None
    if locks:
        shutil.rmtree(source / locks)
    # And its declarations, as they were with it (every key the tests' apps declare is there).
    archive = subprocess.run(["git", "-C", str(source_tree), "archive", revision, HELLO_WORLD, "setup.cfg",
                              *([locks] if locks else [])], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    if locks:  # newer than the wheelhouse: make wheels fetches what the app's locks did not need
        for locked in (source / locks).iterdir():
            locked.touch()
    else:
        lock(source)
    return source


def build_copy(source_tree: Path, workdir: Path, suite: str | None = None) -> Path:
    """A copy of source_tree built as it is."""
    source = workdir / "source"
    shutil.copytree(source_tree, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist"))
    return make_deb(source, suite)


def lock(source: Path, releases: str | None = None) -> None:
    """The README's step after an app's requirements changed: `make lock`, by default for this
    machine's release (the one its builds are for), with the uv of the tests' own venv."""
    if releases is None:
        releases = subprocess.run([str(source / "packaging/release"), "suite"], check=True,
                                  capture_output=True, text=True).stdout.strip()
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(["make", "-C", str(source), "lock", f"RELEASES={releases}", f"UV={uv}"],
                   check=True, stdout=subprocess.DEVNULL)


def make_deb(source: Path, suite: str | None = None, offline: bool = False) -> Path:
    """`make deb` (for another release: SUITE=suite) in a tree of its own; the .deb. Offline:
    in a network namespace with no interface but lo (its wheels fetched before)."""
    if offline:
        subprocess.run(["make", "-C", str(source), "wheels"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*(["unshare", "--net", "--"] if offline else []), "make", "-C", str(source), "deb",
                    *([f"SUITE={suite}"] if suite else [])],
                   check=True, stdout=subprocess.DEVNULL, env={**os.environ, "FLASKAPP_FIXTURE_BUILD": "1"})
    suffix = subprocess.run([str(source / "packaging/release"), "suffix", *([suite] if suite else [])],
                            check=True, capture_output=True, text=True).stdout.strip()
    (built,) = (source / "dist").glob(f"**/flaskapp_*{suffix}_*.deb")
    return built
