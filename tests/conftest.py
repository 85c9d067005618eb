"""Options and fixtures shared by every kind of test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# flaskapp-site's modules, as the package installs them in /usr/lib/flaskapp, and the
# platform's, as the build copies them into the venv.
sys.path.insert(0, str(REPO / "packaging/site"))
sys.path.insert(0, str(REPO / "packaging/platform"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--deb", type=Path, default=None,
        help="the built package to test (make test passes dist/flaskapp_<version>_<arch>.deb)",
    )
    parser.addoption(
        "--other-deb", type=Path, default=None,
        help="the build for the other Debian release, whose hosts some end-to-end tests boot "
             "(make test passes dist/<suite>/flaskapp_<version>_<arch>.deb)",
    )


@pytest.fixture(scope="session")
def deb(request: pytest.FixtureRequest) -> Path:
    path = request.config.getoption("--deb")
    if path is None:
        pytest.fail("no package to test: run `make test`, or pytest --deb=dist/flaskapp_*.deb")
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `make deb` first")
    return path.resolve()
