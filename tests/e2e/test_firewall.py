"""postinst opens nginx's port in the firewall the host really runs, and only that port;
remove closes exactly what it opened. Each firewall here is the real one, in the host."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import booted_host, layer
from .host import Host, eventually, said

NFTABLES_CONF = """#!/usr/sbin/nft -f
flush ruleset
table inet filter {
    chain input {
        type filter hook input priority filter; policy drop;
        iif lo accept
        ct state established,related accept
    }
}
"""


# Each firewall's packages, as an admin installs them (before flaskapp, in these tests).
PACKAGES: dict[str, tuple[str, ...]] = {
    "iptables": ("iptables", "iptables-persistent"),
    "nftables": ("nftables",),
    "ufw": ("ufw",),
    "firewalld": ("firewalld",),
}


def install(host: Host, firewall: str) -> None:
    host.run("apt-get", "install", "--yes", *PACKAGES[firewall])


@pytest.fixture
def nginx_host(nginx_image: list[Path], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
               request: pytest.FixtureRequest) -> Iterator[Host]:
    """A server running nginx; for a test of one firewall (its `firewall` parameter), with
    that firewall's packages installed, from a layer made once per run by the same apt
    install (the test's own then finds them installed), and neither configured nor started
    beyond what the packages do themselves."""
    firewall = getattr(request.node, "callspec", None) and request.node.callspec.params.get("firewall")
    image = nginx_image
    if firewall:
        image = layer(tmp_path_factory, f"nginx-{firewall}", nginx_image,
                      lambda maker: install(maker, firewall))
    with booted_host(image, tmp_path / "host", request.node.name) as fresh:
        yield fresh


def drop_with_iptables(host: Host) -> None:
    install(host, "iptables")
    for tool in ("iptables", "ip6tables"):
        host.run(tool, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
        host.run(tool, "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
        host.run(tool, "-P", "INPUT", "DROP")
    host.run("netfilter-persistent", "save")


def drop_with_nftables(host: Host) -> None:
    install(host, "nftables")
    host.file("/etc/nftables.conf").write(NFTABLES_CONF)
    host.run("systemctl", "enable", "--now", "nftables")


def drop_with_ufw(host: Host) -> None:
    install(host, "ufw")
    host.run("ufw", "--force", "enable")


def drop_with_firewalld(host: Host) -> None:
    # Its default zone (public) rejects everything but ssh and dhcpv6-client.
    install(host, "firewalld")
    host.run("systemctl", "enable", "--now", "firewalld")
    host.run("firewall-cmd", "--state")


FIREWALLS: dict[str, Callable[[Host], None]] = {
    "iptables": drop_with_iptables,
    "nftables": drop_with_nftables,
    "ufw": drop_with_ufw,
    "firewalld": drop_with_firewalld,
}

# How each firewall lists its rules, and what marks flaskapp's among them.
RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "iptables": (("sh", "-c", "iptables -S INPUT; ip6tables -S INPUT"), "flaskapp"),
    "nftables": (("nft", "list", "ruleset"), "flaskapp"),
    "ufw": (("ufw", "status"), "flaskapp"),
    # firewalld: flaskapp's own service, in the permanent configuration (the running one
    # has it, or its port if firewalld ran before the service was installed).
    "firewalld": (("firewall-cmd", "--permanent", "--list-services"), "flaskapp"),
}


def port_80(host: Host) -> str:
    """"open", "refused" (nothing listens) or "filtered" (a firewall drops the packets, or
    rejects them with an ICMP "administratively prohibited", as firewalld does)."""
    try:
        socket.create_connection((host.address, 80), timeout=2).close()
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "filtered"
    except OSError as error:
        if error.errno == errno.EHOSTUNREACH:
            return "filtered"
        raise


def flaskapp_rules(host: Host, firewall: str) -> list[str]:
    command, mark = RULES[firewall]
    lines = host.run(*command).stdout.splitlines()
    if firewall == "firewalld":  # a line of service names per configuration
        return [line for line in lines if mark in line.split()]
    return [line for line in lines if mark in line]


# How each firewall reloads its own configuration, as an admin does after editing it.
RELOADS: dict[str, tuple[str, ...]] = {
    "nftables": ("systemctl", "reload", "nftables"),
    "iptables": ("netfilter-persistent", "reload"),
    "ufw": ("ufw", "reload"),
    "firewalld": ("firewall-cmd", "--reload"),
}


@pytest.mark.parametrize("firewall", FIREWALLS)
def test_install_opens_port_80_once_it_stays_open_through_reinstall_reload_and_reboot_and_remove_closes_it(
    nginx_host: Host, deb: Path, firewall: str
) -> None:
    # (One host for what were three tests of one firewall state each: install and remove,
    # a firewall reload, a reboot; every assertion of the three kept.)
    FIREWALLS[firewall](nginx_host)
    assert port_80(nginx_host) == "filtered"

    output = nginx_host.apt_install(deb).stdout
    assert nginx_host.wait_until_serving().text == "Hello World!"
    assert f"flaskapp: {firewall}" in output  # the action, in one line of apt's output
    rules = flaskapp_rules(nginx_host, firewall)
    assert rules

    nginx_host.run("apt-get", "install", "--reinstall", "--yes", f"/root/{deb.name}")
    assert flaskapp_rules(nginx_host, firewall) == rules

    # The firewall reloads its own configuration, as an admin does after editing it.
    assert port_80(nginx_host) == "open"
    nginx_host.run(*RELOADS[firewall])
    if firewall == "nftables":
        nginx_host.run("systemctl", "restart", "nftables")  # a restart, too
    eventually(lambda: port_80(nginx_host) == "open", timeout=10, what="port 80 open again")
    assert len(flaskapp_rules(nginx_host, firewall)) > 0

    nginx_host.reboot()
    assert nginx_host.wait_until_serving().text == "Hello World!"
    assert len(flaskapp_rules(nginx_host, firewall)) > 0

    nginx_host.run("apt-get", "remove", "--yes", "flaskapp")
    assert flaskapp_rules(nginx_host, firewall) == []
    assert port_80(nginx_host) == "filtered"


@pytest.mark.parametrize(("settings_file", "line"), [
    ("site.conf", "OPEN_HTTP_PORT=no # managed by ansible"),
    ("site.conf", "OPEN_HTTP_PORT='No'"),
    # Where flaskapp 0.1 read it: still honoured.
    ("firewall.conf", "OPEN_HTTP_PORT=off"),
])
def test_opt_out_before_install_leaves_the_firewall_untouched(
    nginx_host: Host, deb: Path, settings_file: str, line: str
) -> None:
    drop_with_nftables(nginx_host)
    nginx_host.run("mkdir", "-p", "/etc/flaskapp")
    nginx_host.file(f"/etc/flaskapp/{settings_file}").write(line + "\n")
    ruleset = nginx_host.run("nft", "list", "ruleset").stdout

    output = nginx_host.apt_install(deb).stdout

    assert "port 80 is not opened (OPEN_HTTP_PORT=no" in output
    assert nginx_host.run("nft", "list", "ruleset").stdout == ruleset
    assert port_80(nginx_host) == "filtered"
    assert nginx_host.run("curl", "--silent", "http://localhost/").stdout == "Hello World!"
    # The admin's file is theirs: the package neither replaced nor rewrote it.
    assert line in nginx_host.file(f"/etc/flaskapp/{settings_file}").content


def test_a_value_that_is_neither_yes_nor_no_is_refused_and_changes_nothing(
    nginx_host: Host, deb: Path
) -> None:
    drop_with_nftables(nginx_host)
    nginx_host.run("mkdir", "-p", "/etc/flaskapp")
    nginx_host.file("/etc/flaskapp/site.conf").write("OPEN_HTTP_PORT=maybe\n")
    ruleset = nginx_host.run("nft", "list", "ruleset").stdout

    result = nginx_host.apt_install(deb, check=False)

    assert result.returncode != 0
    assert "OPEN_HTTP_PORT='maybe' (/etc/flaskapp/site.conf, line 1): must be yes or no" in said(result)
    assert nginx_host.run("nft", "list", "ruleset").stdout == ruleset
    nginx_host.file("/etc/flaskapp/site.conf").write("OPEN_HTTP_PORT=yes\n")
    nginx_host.run("dpkg", "--configure", "-a")
    assert nginx_host.wait_until_serving().text == "Hello World!"


@pytest.mark.parametrize("firewall", FIREWALLS)
def test_the_setting_closes_the_port_and_keeps_it_closed(nginx_host: Host, deb: Path, firewall: str) -> None:
    # What wins is the setting: an admin closes the port with OPEN_HTTP_PORT=no (a rule
    # deleted by hand comes back at the next configure, boot or firewall reload).
    # (Each state waited for a few seconds: a firewall applies its rules in its own time,
    # firewalld over D-Bus, and after a reboot.)
    def port_becomes(state: str) -> None:
        eventually(lambda: port_80(nginx_host) == state, timeout=20, what=f"port 80 {state}")

    FIREWALLS[firewall](nginx_host)
    nginx_host.apt_install(deb)
    port_becomes("open")

    nginx_host.file("/etc/flaskapp/site.conf").write("OPEN_HTTP_PORT=no\n")
    nginx_host.run("flaskapp-site", "apply")
    assert flaskapp_rules(nginx_host, firewall) == []
    port_becomes("filtered")
    nginx_host.reboot()
    assert nginx_host.run("curl", "--silent", "http://localhost/").stdout == "Hello World!"
    port_becomes("filtered")
    assert flaskapp_rules(nginx_host, firewall) == []

    nginx_host.file("/etc/flaskapp/site.conf").write("OPEN_HTTP_PORT=yes\n")
    nginx_host.run("flaskapp-site", "apply")
    port_becomes("open")


# Each firewall's way to block one client: this machine, the test's client.
def block_with_nftables(host: Host) -> None:
    install(host, "nftables")
    host.file("/etc/nftables.conf").write(NFTABLES_CONF.replace(
        "iif lo accept", f"ip saddr {host.link.local_address} drop\n        iif lo accept"))
    host.run("systemctl", "enable", "--now", "nftables")


def block_with_iptables(host: Host) -> None:
    install(host, "iptables")
    host.run("iptables", "-A", "INPUT", "-s", host.link.local_address, "-j", "DROP")
    host.run("iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
    host.run("iptables", "-P", "INPUT", "DROP")


def block_with_ufw(host: Host) -> None:
    install(host, "ufw")
    host.run("ufw", "deny", "from", host.link.local_address)
    host.run("ufw", "--force", "enable")


def block_with_firewalld(host: Host) -> None:
    drop_with_firewalld(host)
    rule = f"rule family=ipv4 source address={host.link.local_address} drop"
    host.run("firewall-cmd", "--permanent", f"--add-rich-rule={rule}")
    host.run("firewall-cmd", f"--add-rich-rule={rule}")


BLOCKS: dict[str, Callable[[Host], None]] = {
    "nftables": block_with_nftables,
    "iptables": block_with_iptables,
    "ufw": block_with_ufw,
    "firewalld": block_with_firewalld,
}


@pytest.mark.parametrize("firewall", BLOCKS)
def test_a_client_the_admin_blocked_stays_blocked(nginx_host: Host, deb: Path, firewall: str) -> None:
    BLOCKS[firewall](nginx_host)
    nginx_host.apt_install(deb)
    assert flaskapp_rules(nginx_host, firewall)  # the port was opened, for everyone else
    assert port_80(nginx_host) == "filtered"
    assert nginx_host.run("curl", "--silent", "http://localhost/").stdout == "Hello World!"


@pytest.mark.parametrize(("firewall", "rules"), [
    ("nftables", "tcp dport { 22, 80, 443 } accept"),
    ("nftables", "meta l4proto tcp tcp dport 80 ct state new counter accept"),
    ("iptables", "-p tcp -m multiport --dports 22,80,443 -j ACCEPT"),
])
def test_a_port_the_admin_opened_already_gets_no_second_rule(
    nginx_host: Host, deb: Path, firewall: str, rules: str
) -> None:
    if firewall == "nftables":
        install(nginx_host, "nftables")
        nginx_host.file("/etc/nftables.conf").write(NFTABLES_CONF.replace(
            "iif lo accept", f"iif lo accept\n        {rules}"))
        nginx_host.run("systemctl", "enable", "--now", "nftables")
    else:
        drop_with_iptables(nginx_host)
        nginx_host.run("iptables", "-A", "INPUT", *rules.split())
        nginx_host.run("ip6tables", "-A", "INPUT", *rules.split())
    output = nginx_host.apt_install(deb).stdout
    assert "already accepts port 80; left as it is" in output
    assert flaskapp_rules(nginx_host, firewall) == []
    assert port_80(nginx_host) == "open"


def test_a_chain_that_accepts_but_ends_in_a_reject_is_opened_before_the_reject(
    nginx_host: Host, deb: Path
) -> None:
    install(nginx_host, "nftables")
    nginx_host.file("/etc/nftables.conf").write(
        NFTABLES_CONF.replace("policy drop;", "policy accept;").replace(
            "ct state established,related accept",
            "ct state established,related accept\n        counter reject with icmpx type admin-prohibited"))
    nginx_host.run("systemctl", "enable", "--now", "nftables")
    assert port_80(nginx_host) == "filtered"
    nginx_host.apt_install(deb)
    assert port_80(nginx_host) == "open"
    chain = nginx_host.run("nft", "list", "chain", "inet", "filter", "input").stdout
    assert chain.index('comment "flaskapp"') < chain.index("reject")


def test_rules_loaded_by_iptables_legacy_are_seen(nginx_host: Host, deb: Path) -> None:
    # iptables is the nft variant (Debian's default); these rules are in the legacy tables.
    nginx_host.run("apt-get", "install", "--yes", "iptables")
    nginx_host.run("iptables-legacy", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED",
                   "-j", "ACCEPT")
    nginx_host.run("iptables-legacy", "-P", "INPUT", "DROP")
    assert port_80(nginx_host) == "filtered"
    output = nginx_host.apt_install(deb).stdout
    assert "iptables-legacy: accepted port 80/tcp" in output
    assert port_80(nginx_host) == "open"
    nginx_host.run("apt-get", "remove", "--yes", "flaskapp")
    assert "flaskapp" not in nginx_host.run("iptables-legacy", "-S", "INPUT").stdout


def test_removal_with_firewalld_stopped_takes_flaskapp_service_only(nginx_host: Host, deb: Path) -> None:
    drop_with_firewalld(nginx_host)
    nginx_host.apt_install(deb)
    # The admin's own services, which flaskapp's removal must keep.
    nginx_host.run("firewall-cmd", "--permanent", "--add-service=https")
    nginx_host.run("systemctl", "stop", "firewalld")

    nginx_host.run("apt-get", "remove", "--yes", "flaskapp")

    permanent = nginx_host.run("firewall-offline-cmd", "--list-services").stdout.split()
    assert "flaskapp" not in permanent
    assert "https" in permanent


def test_no_firewall_changes_nothing_and_says_so(host: Host, deb: Path) -> None:
    output = host.apt_install(deb).stdout
    assert "no firewall drops incoming traffic here; nothing to open for port 80" in output
    assert port_80(host) == "open"


# How an admin saves the live rules, flaskapp's among them, and where they end up.
SAVES: dict[str, tuple[str, str]] = {
    "iptables": ("netfilter-persistent save", "/etc/iptables/rules.v4"),
    "nftables": ("(echo 'flush ruleset'; nft list ruleset) > /etc/nftables.conf", "/etc/nftables.conf"),
}


@pytest.mark.parametrize("firewall", SAVES)
def test_a_saved_rule_set_does_not_bring_the_rule_back_after_remove(
    nginx_host: Host, deb: Path, firewall: str
) -> None:
    FIREWALLS[firewall](nginx_host)
    nginx_host.apt_install(deb)
    save, saved = SAVES[firewall]
    nginx_host.run("sh", "-c", save)
    assert "flaskapp" in nginx_host.file(saved).content

    nginx_host.run("apt-get", "remove", "--yes", "flaskapp")
    assert "flaskapp" not in nginx_host.file(saved).content
    nginx_host.reboot()
    assert flaskapp_rules(nginx_host, firewall) == []
    assert port_80(nginx_host) == "filtered"
