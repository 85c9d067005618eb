"""Which firewalls postinst opens port 80 in, from what the host runs (the script's decision
alone; tests/e2e/test_firewall.py runs it against the real firewalls)."""

from __future__ import annotations

import subprocess

import pytest

from ..conftest import REPO

SCRIPT = REPO / "packaging/firewall/firewall"


def choose(ufw: str, firewalld: str, iptables: str, ip6tables: str, nft: str) -> str:
    return subprocess.run(
        ["sh", str(SCRIPT), "choose", ufw, firewalld, iptables, ip6tables, nft],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


@pytest.mark.parametrize(
    ("facts", "chosen"),
    [
        (("no", "no", "no", "no", "no"), "none"),
        # ufw and firewalld drive iptables/nftables themselves: theirs alone.
        (("yes", "no", "yes", "yes", "no"), "ufw"),
        (("no", "yes", "no", "no", "yes"), "firewalld"),
        (("no", "no", "yes", "no", "no"), "iptables"),
        (("no", "no", "yes", "yes", "no"), "iptables ip6tables"),
        (("no", "no", "no", "no", "yes"), "nftables"),
        # A packet must pass every dropping input chain.
        (("no", "no", "yes", "yes", "yes"), "iptables ip6tables nftables"),
    ],
)
def test_choice(facts: tuple[str, ...], chosen: str) -> None:
    assert choose(*facts) == chosen


def test_unknown_command_is_a_usage_error() -> None:
    result = subprocess.run(["sh", str(SCRIPT), "frobnicate"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "usage:" in result.stderr
