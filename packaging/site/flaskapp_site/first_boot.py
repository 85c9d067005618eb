"""Configure's work that needs a booted system, when the package was installed with none
running (an image build: mmdebstrap, Packer, a cloud's image builder, all of which install in
a chroot): postinst records it, and flaskapp-first-boot.service does it at the image's first
boot, before flaskapp.service and nginx start. The web service's own start, its workers and
timers, and the firewall's port need nothing from here: systemd starts the units the package
enabled, and flaskapp-firewall.service opens the port at every boot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

RECORD = Path("/var/lib/flaskapp/configure-at-boot")

Say = Callable[[str], None]


def record(phase: str, say: Say) -> None:
    """What the first boot runs: `phase`'s commands (install or upgrade). A first install that
    no boot has finished yet stays one: its install commands have not run."""
    previous = RECORD.read_text().strip() if RECORD.exists() else ""
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    RECORD.write_text(("install" if previous == "install" else phase) + "\n")
    say(f"no systemd running (an image build?): the app is loaded and its {phase} commands run "
        "at the first boot, by flaskapp-first-boot.service, before it serves")


def pending() -> str | None:
    """The phase recorded, if the first boot's work is still to do."""
    if not RECORD.exists():
        return None
    phase = RECORD.read_text().strip()
    return phase if phase in ("install", "upgrade") else "install"


def done() -> None:
    RECORD.unlink(missing_ok=True)
