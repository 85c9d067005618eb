"""How flaskapp-site reads the admin's firewall rules: what already opens port 80, what
drops, and where its own rule goes so that the admin's drops still win (tests/e2e/
test_firewall.py runs it against the real firewalls)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flaskapp_site import firewall

from ..conftest import REPO

ADMIN_IPTABLES = """-P INPUT ACCEPT
-A INPUT -s 203.0.113.7/32 -j DROP
-A INPUT -p tcp -m multiport --dports 22,443 -j ACCEPT
-A INPUT -j f2b-sshd
-A INPUT -m comment --comment "everything else" -j REJECT --reject-with icmp-port-unreachable
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
"""


@pytest.mark.parametrize(("rule", "opens"), [
    ("-p tcp -m tcp --dport 80 -j ACCEPT", True),
    ("-p tcp -m multiport --dports 22,80,443 -j ACCEPT", True),
    ("-p tcp -m tcp --dport 1:1024 -m conntrack --ctstate NEW -j ACCEPT", True),
    ("-p tcp -m tcp --dport http -j ACCEPT", True),
    ("-p tcp -m tcp --dport 8080 -j ACCEPT", False),
    ("-s 10.0.0.0/8 -p tcp -m tcp --dport 80 -j ACCEPT", False),
    ("-i eth1 -p tcp -m tcp --dport 80 -j ACCEPT", False),
    ("-p udp -m udp --dport 80 -j ACCEPT", False),
    ("-p tcp -m tcp --dport 80 -j DROP", False),
])
def test_iptables_rules_that_open_port_80_to_everyone(rule: str, opens: bool) -> None:
    chain = firewall.IptablesChain.parse(f"-A INPUT {rule}\n")
    assert chain.accepts_everyone_on(chain.rules[0], 80) is opens


def test_iptables_a_final_reject_drops_even_with_policy_accept() -> None:
    chain = firewall.IptablesChain.parse(ADMIN_IPTABLES)
    assert chain.drops()
    # The rule goes just before the catch-all: after the blocklist and fail2ban's chain.
    assert chain.first_catch_all() == 4
    # An accept after the catch-all is never reached: port 80 is not open yet.
    assert not any(chain.accepts_everyone_on(rule, 80) for rule in chain.reachable())


def test_iptables_policy_accept_with_no_catch_all_drops_nothing() -> None:
    assert not firewall.IptablesChain.parse("-P INPUT ACCEPT\n-A INPUT -s 203.0.113.7/32 -j DROP\n").drops()


def nft_chain() -> firewall.NftChain:
    # `nft --json --handle list ruleset` of a policy-accept chain that ends in a reject.
    ruleset = json.loads((REPO / "tests/unit/data/nft-admin-rules.json").read_text())
    [chain] = firewall.nft_input_chains(ruleset)
    return chain


def test_nft_a_final_reject_drops_even_with_policy_accept() -> None:
    chain = nft_chain()
    assert chain.policy == "accept" and chain.drops()
    assert chain.first_catch_all() is chain.rules[-1]


def test_nft_rules_that_open_port_80_to_everyone() -> None:
    opens = {rule["handle"]: firewall.nft_accepts_everyone_on(rule, 80) for rule in nft_chain().rules}
    # blocklist drop, ct invalid drop, iif lo, established: no. `tcp dport { 22, 80, 443 }
    # accept`: yes. `tcp dport 8000-8100 ct state new counter accept`: not 80. `meta l4proto
    # tcp tcp dport 80 accept`: yes. `ip saddr 10.0.0.0/8 tcp dport 80 accept`: not everyone.
    assert [handle for handle, yes in opens.items() if yes] == [8, 10]
    assert firewall.nft_accepts_everyone_on(nft_chain().rules[5], 8050)


@pytest.mark.parametrize(("status", "allowed"), [
    ("80/tcp                     ALLOW       Anywhere", True),
    ("80,443/tcp                 ALLOW       Anywhere", True),
    ("Nginx Full                 ALLOW       Anywhere", True),
    ("22/tcp                     ALLOW       Anywhere", False),
    ("80/tcp                     ALLOW       203.0.113.0/24", False),
    ("80/tcp                     DENY        Anywhere", False),
    ("80/udp                     ALLOW       Anywhere", False),
])
def test_ufw_rules_that_open_port_80(status: str, allowed: bool) -> None:
    profiles = {"Nginx Full": "80,443/tcp"}
    assert firewall.ufw_allows(status, 80, profiles.get) is allowed


@pytest.mark.parametrize(("ufw", "firewalld", "dropping", "chosen"), [
    (False, False, [], []),
    # ufw and firewalld drive iptables/nftables themselves: theirs alone.
    (True, False, ["iptables"], ["ufw"]),
    (False, True, ["nftables"], ["firewalld"]),
    # A packet must pass every dropping input chain.
    (False, False, ["iptables", "ip6tables", "nftables"], ["iptables", "ip6tables", "nftables"]),
])
def test_choice(ufw: bool, firewalld: bool, dropping: list[str], chosen: list[str]) -> None:
    assert firewall.choose(ufw, firewalld, dropping) == chosen


OURS = "-A INPUT -p tcp --dport 80 -m comment --comment flaskapp -j ACCEPT\n"
SAVED = f"*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\n{OURS}COMMIT\n"


def test_a_saved_rule_set_loses_flaskapps_line_and_keeps_its_mode(tmp_path: Path) -> None:
    saved = tmp_path / "rules.v4"
    saved.write_text(SAVED)
    saved.chmod(0o600)
    assert firewall.forget_saved(saved, lambda line: "flaskapp" in line)
    assert saved.read_text() == SAVED.replace(OURS, "")
    assert saved.stat().st_mode & 0o777 == 0o600
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rules.v4"]


def test_a_crash_while_the_saved_rule_set_is_rewritten_leaves_it_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The next boot loads this file: half of it would leave the host open or shut.
    saved = tmp_path / "rules.v4"
    saved.write_text(SAVED)

    def power_cut(fd: int) -> None:
        raise OSError("the power went")
    monkeypatch.setattr(firewall.os, "fsync", power_cut)
    with pytest.raises(OSError, match="the power went"):
        firewall.forget_saved(saved, lambda line: "flaskapp" in line)
    assert saved.read_text() == SAVED
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rules.v4"]
