"""Debian's piuparts on the package: installed, removed and purged in a chroot of the hosts'
image (which has systemd), and upgraded from the previous release, with nothing left behind
and nothing of the system's taken away."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .image import deb_suite


def piuparts(image: Path, deb: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    if shutil.which("piuparts") is None:
        pytest.fail("piuparts is missing: make test-deps installs it")
    return subprocess.run(
        ["piuparts", f"--existing-chroot={image}", f"--distribution={deb_suite(deb)}",
         f"--tmpdir={tmp_path}", *args],
        capture_output=True, text=True, timeout=900,
    )


def verdict(result: subprocess.CompletedProcess) -> str:
    """piuparts' last lines, and every line that says what failed."""
    lines = result.stdout.splitlines() + result.stderr.splitlines()
    return "\n".join([line for line in lines if " ERROR: " in line or " FAIL" in line] + lines[-40:])


def test_install_remove_and_purge(image: Path, deb: Path, tmp_path: Path) -> None:
    result = piuparts(image, deb, tmp_path, "--no-upgrade-test", str(deb))
    assert result.returncode == 0, verdict(result)
    assert "PASS: All tests." in result.stdout + result.stderr


def test_upgrade_from_the_previous_release(
    image: Path, deb: Path, previous_deb: Path, tmp_path: Path
) -> None:
    # The previous release in a repository of its own: piuparts installs it from there,
    # upgrades it to this build, then purges.
    repo = tmp_path / "previous"
    repo.mkdir()
    shutil.copy(previous_deb, repo)
    packages = subprocess.run(["dpkg-scanpackages", "."], cwd=repo, check=True, capture_output=True).stdout
    (repo / "Packages").write_bytes(packages)
    result = piuparts(image, deb, tmp_path, f"--bindmount={repo}",
                      f"--extra-repo=deb [trusted=yes] file://{repo} ./", str(deb))
    assert result.returncode == 0, verdict(result)
    output = result.stdout + result.stderr
    assert "PASS: Installation, upgrade and purging tests." in output
