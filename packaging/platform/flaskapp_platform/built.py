"""Where the build put the app in the venv: its tree and its declarations. Flask is not
imported here: a job or a worker of the app reads these and execs its command, and a Flask
import (a quarter of a second of CPU) at each run of a job every minute would be paid for
nothing."""

from __future__ import annotations

import sys
from pathlib import Path

#: What the build wrote from setup.cfg's [flaskapp] section (packaging/build-app): `app`, as
#: Flask's --app spells it ("module:name", "module:create_app()"), or FLASK_APP of .flaskenv.
DECLARATIONS = Path(__file__).with_name("declarations.json")


def app_tree() -> Path:
    """The app's tree as its authors wrote it (the build's copy of src/)."""
    return Path(sys.prefix) / "src"
