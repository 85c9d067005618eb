"""A second build of the package with a higher version: what an upgrade installs."""

from __future__ import annotations

import email.utils
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

NEWER_VERSION_SUFFIX = "+e2e1"


def build_newer_deb(source_tree: Path, workdir: Path) -> Path:
    """Builds a copy of source_tree whose version (setup.cfg and debian/changelog) has
    NEWER_VERSION_SUFFIX added, with `make deb`, and returns the .deb."""
    source = workdir / "source"
    shutil.copytree(source_tree, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist"))
    old = subprocess.run(
        ["dpkg-parsechangelog", "-S", "Version"], cwd=source, check=True, capture_output=True, text=True
    ).stdout.strip()
    new = old + NEWER_VERSION_SUFFIX
    setup_cfg = source / "setup.cfg"
    setup_cfg.write_text(re.sub(r"(?m)^version = .*$", f"version = {new}", setup_cfg.read_text()))
    changelog = source / "debian/changelog"
    date = email.utils.format_datetime(datetime.now(UTC))
    entry = (
        f"flaskapp ({new}) bookworm; urgency=medium\n\n  * Upgrade under test.\n\n"
        f" -- flaskapp tests <tests@flaskapp.example.org>  {date}\n\n"
    )
    changelog.write_text(entry + changelog.read_text())
    subprocess.run(["make", "-C", str(source), "deb"], check=True, stdout=subprocess.DEVNULL)
    (built,) = (source / "dist").glob(f"flaskapp_{new}_*.deb")
    return built
