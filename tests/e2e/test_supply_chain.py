"""An app's requirements as its authors wrote them, locked for both releases, built offline
and installed on a host of each: one only published as an sdist (langdetect 1.0.9, built into
a wheel by each release's own Python), and one that needs a dependency on bookworm's Python
alone (redis 5.0.1: async-timeout where python_full_version < 3.11.3). The SBOM in each package
says what its venv holds. (The refusals and the audit: tests/package/test_lock_and_audit.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .builds import build_newer_deb, lock, make_deb
from .conftest import booted_host, once_per_run, platform_tree
from .host import Host

REQUIREMENTS = "# as its authors wrote it\nlangdetect==1.0.9\nredis==5.0.1\n"
DETECT = ("import langdetect, redis; langdetect.DetectorFactory.seed = 0; "
          "print(langdetect.detect('Hello World, this is a sentence in English'), redis.__version__)")


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The app's package for both releases, from one tree: this release's built with no network."""
    def build(workdir: Path) -> Path:
        def add_requirements(source: Path) -> None:
            (source / "src/requirements.txt").write_text(REQUIREMENTS)
            lock(source, "bookworm trixie")
        native = build_newer_deb(platform_tree(tmp_path_factory), workdir, "+locked1", add_requirements,
                                 offline=True)
        make_deb(workdir / "source", suite="trixie")
        return native
    native = once_per_run(tmp_path_factory, "locked1", build)
    (other,) = (native.parent / "trixie").glob("flaskapp_*.deb")
    return {"bookworm": native, "trixie": other}


def sbom(host: Host) -> dict[str, str]:
    bom = json.loads(host.file("/usr/share/doc/flaskapp/sbom.cdx.json").content)
    return {component["name"].lower(): component["version"] for component in bom["components"]}


@pytest.fixture
def other_host(other_image: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Host]:
    with booted_host(other_image, tmp_path / "host", request.node.name) as fresh:
        yield fresh


def test_sdist_and_python_3_11_only_dependencies_install_on_bookworm(
    host: Host, builds: dict[str, Path]
) -> None:
    host.apt_install(builds["bookworm"])
    assert host.wait_until_serving().text == "Hello World!"
    assert host.run("/opt/venvs/flaskapp/bin/python", "-c", DETECT).stdout.split() == ["en", "5.0.1"]
    host.run("/opt/venvs/flaskapp/bin/python", "-c", "import async_timeout")
    listed = sbom(host)
    assert listed["langdetect"] == "1.0.9" and listed["async-timeout"] == "5.0.1"


def test_the_same_requirements_install_on_trixie_without_what_only_3_11_needs(
    other_host: Host, builds: dict[str, Path]
) -> None:
    other_host.apt_install(builds["trixie"])
    assert other_host.wait_until_serving().text == "Hello World!"
    assert other_host.run("/opt/venvs/flaskapp/bin/python", "-c", DETECT).stdout.split() == ["en", "5.0.1"]
    assert other_host.run("/opt/venvs/flaskapp/bin/python", "-c", "import async_timeout",
                          check=False).returncode != 0
    listed = sbom(other_host)
    assert listed["langdetect"] == "1.0.9" and "async-timeout" not in listed
