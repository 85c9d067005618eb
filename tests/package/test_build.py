"""`make deb` itself: reproducible, offline, and refusing a wheel that is not the one pinned.

Each test builds a copy of this tree elsewhere (as a second clone would be), with the
wheelhouse that `make deb` fetched for the package under test."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from ..conftest import REPO


def copy_of_the_tree(destination: Path) -> Path:
    if not (REPO / "wheels/SHA256SUMS").exists():
        pytest.fail("no wheels/ in the tree: `make deb` fetches it")
    destination.mkdir()
    subprocess.run(f"tar -C {REPO} --exclude=./build --exclude=./dist --exclude=./.venv --exclude=./.git "
                   f"-cf - . | tar -C {destination} -xf -", shell=True, check=True)
    return destination


def make_deb_offline(source: Path) -> subprocess.CompletedProcess:
    """`make deb` with no network at all, another time zone, locale and umask."""
    return subprocess.run(
        ["unshare", "--net", "--", "sh", "-c", "umask 0002 && make deb"], cwd=source,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TZ": "Pacific/Auckland", "LC_ALL": "C.UTF-8",
             "HOME": str(source)},
        capture_output=True, text=True, timeout=900)


@pytest.mark.rebuild
def test_a_second_build_elsewhere_and_offline_is_the_same_bytes(deb: Path, tmp_path: Path) -> None:
    source = copy_of_the_tree(tmp_path / "another-clone")
    built = make_deb_offline(source)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (again,) = (source / "dist").glob("flaskapp_*.deb")
    assert again.name == deb.name
    if again.read_bytes() != deb.read_bytes():
        shown = subprocess.run(["diffoscope", "--text", "-", "--max-report-size", "20000",
                                str(deb), str(again)], capture_output=True, text=True)
        pytest.fail(f"two builds differ:\n{shown.stdout}{shown.stderr}")


def suite() -> str:
    return subprocess.run([str(REPO / "packaging/release"), "suite"], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.rebuild
def test_a_tampered_wheel_fails_the_build(tmp_path: Path) -> None:
    source = copy_of_the_tree(tmp_path / "tampered")
    (wheel,) = (source / "wheels" / suite()).glob("flask-*.whl")
    wheel.write_bytes(wheel.read_bytes() + b"\0")

    built = make_deb_offline(source)

    assert built.returncode != 0
    assert f"wheels/{suite()}/{wheel.name} does not match wheels/SHA256SUMS" in built.stderr
    assert not list((source / "dist").glob("*.deb"))


@pytest.mark.rebuild
def test_a_tampered_build_backend_fails_the_build_even_with_its_sum_rewritten(tmp_path: Path) -> None:
    # The build backend (setuptools, which pip runs to build an app's own project) is no
    # runtime requirement that pip's hash check would see: its lock (locks/<release>-build.txt)
    # is what tells. Whoever could change the file could change SHA256SUMS as well.
    source = copy_of_the_tree(tmp_path / "tampered-backend")
    (wheel,) = (source / "wheels" / suite()).glob("setuptools-*.whl")
    with zipfile.ZipFile(wheel, "a") as archive:
        archive.writestr("setuptools/_injected.py", "import os; os.system('id > /tmp/pwned')\n")
    sums = source / "wheels/SHA256SUMS"
    name = f"{suite()}/{wheel.name}"
    sums.write_text("".join(f"{hashlib.sha256(wheel.read_bytes()).hexdigest()}  {name}\n"
                            if line.endswith(f"  {name}") else f"{line}\n"
                            for line in sums.read_text().splitlines()))

    built = make_deb_offline(source)

    assert built.returncode != 0
    said = built.stderr
    assert f"wheels/{suite()}/{wheel.name}: its sha256" in said, said
    assert f"is not one that locks/{suite()}-build.txt pins for setuptools" in said, said
    assert not list((source / "dist").glob("*.deb"))
