"""debian/tests/ (autopkgtest) run as a runner would: on a host with the package installed.

The tests' Depends beyond the package (curl) are in every test host's image.
"""

from __future__ import annotations

import re

import pytest

from ..conftest import REPO
from .host import Host

CONTROL = REPO / "debian/tests/control"


def autopkgtests() -> list[str]:
    return [name for field in re.findall(r"(?m)^Tests:(.*)$", CONTROL.read_text())
            for name in field.split()]


@pytest.mark.parametrize("name", autopkgtests())
def test_autopkgtest_passes_on_the_installed_package(served: Host, name: str) -> None:
    script = served.copy_in(REPO / "debian/tests" / name)
    result = served.run(script, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
