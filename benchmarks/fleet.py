"""A rolling upgrade of a fleet behind HAProxy (deploy/upgrade.yml), timed, under load."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.fleet import running_fleet
from tests.e2e.load import throughout

from .measure import CONNECTIONS


def rolling_upgrade(image: Path, deb: Path, newer: Path, workdir: Path) -> dict:
    """site.yml with `deb`, then upgrade.yml to `newer` under load through the balancer."""
    workdir.mkdir()
    with running_fleet(image, [deb, newer], workdir) as fleet:
        setup = fleet.playbook("site.yml", flaskapp_version=deb.name.split("_")[1])
        if setup.returncode != 0:
            raise RuntimeError(f"site.yml failed:\n{setup.stdout}{setup.stderr}")
        timing = {}

        def upgrade() -> None:
            started = time.monotonic()
            run = fleet.playbook("upgrade.yml", flaskapp_version=newer.name.split("_")[1])
            timing["seconds"] = time.monotonic() - started
            if run.returncode != 0:
                raise RuntimeError(f"upgrade.yml failed:\n{run.stdout}{run.stderr}")

        result = throughout(fleet.url, upgrade, 600, connections=CONNECTIONS)
    return {"seconds": timing["seconds"], "load": result}


