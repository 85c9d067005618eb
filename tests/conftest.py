"""Options and fixtures shared by every kind of test."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
# flaskapp-site's modules, as the package installs them in /usr/lib/flaskapp, and the
# platform's, as the build copies them into the venv.
sys.path.insert(0, str(REPO / "packaging/site"))
sys.path.insert(0, str(REPO / "packaging/platform"))


def load_script(path: Path) -> ModuleType:
    """A Python script of this tree without a .py name (packaging/build-app), as a module."""
    loader = importlib.machinery.SourceFileLoader(path.name.replace("-", "_"), str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    sys.modules[loader.name] = module  # (dataclasses look their module up there)
    loader.exec_module(module)
    return module


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
    parser.addoption(
        "--other-suite", default=None,
        help="build the package for this other Debian release during the run, once, for the "
             "end-to-end tests that boot hosts of it (make test passes it; instead of --other-deb)",
    )


@pytest.fixture(scope="session")
def deb(request: pytest.FixtureRequest) -> Path:
    path = request.config.getoption("--deb")
    if path is None:
        pytest.fail("no package to test: run `make test`, or pytest --deb=dist/flaskapp_*.deb")
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `make deb` first")
    return path.resolve()
