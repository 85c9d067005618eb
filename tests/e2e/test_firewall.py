"""postinst opens nginx's port in the firewall the host really runs, and only that port;
remove closes exactly what it opened. Each firewall here is the real one, in the host."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from .host import Host

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


def drop_with_iptables(host: Host) -> None:
    host.run("apt-get", "install", "--yes", "iptables", "iptables-persistent")
    for tool in ("iptables", "ip6tables"):
        host.run(tool, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
        host.run(tool, "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
        host.run(tool, "-P", "INPUT", "DROP")
    host.run("netfilter-persistent", "save")


def drop_with_nftables(host: Host) -> None:
    host.run("apt-get", "install", "--yes", "nftables")
    host.file("/etc/nftables.conf").write(NFTABLES_CONF)
    host.run("systemctl", "enable", "--now", "nftables")


def drop_with_ufw(host: Host) -> None:
    host.run("apt-get", "install", "--yes", "ufw")
    host.run("ufw", "--force", "enable")


def drop_with_firewalld(host: Host) -> None:
    # Its default zone (public) rejects everything but ssh and dhcpv6-client.
    host.run("apt-get", "install", "--yes", "firewalld")
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
    # firewalld: the http service, in the running and the permanent configuration.
    "firewalld": (("sh", "-c", "firewall-cmd --list-services; firewall-cmd --permanent --list-services"),
                  "http"),
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


@pytest.fixture
def nginx_host(host: Host) -> Host:
    """A server already running nginx (its default site on port 80)."""
    host.run("apt-get", "install", "--yes", "nginx")
    return host


@pytest.mark.parametrize("firewall", FIREWALLS)
def test_install_opens_port_80_once_and_remove_closes_it(
    nginx_host: Host, deb: Path, firewall: str
) -> None:
    FIREWALLS[firewall](nginx_host)
    assert port_80(nginx_host) == "filtered"

    output = nginx_host.apt_install(deb).stdout
    assert nginx_host.wait_until_serving().text == "Hello World!"
    assert f"flaskapp: {firewall}" in output  # the action, in one line of apt's output
    rules = flaskapp_rules(nginx_host, firewall)
    assert rules

    nginx_host.run("apt-get", "install", "--reinstall", "--yes", f"/root/{deb.name}")
    assert flaskapp_rules(nginx_host, firewall) == rules

    nginx_host.run("apt-get", "remove", "--yes", "flaskapp")
    assert flaskapp_rules(nginx_host, firewall) == []
    assert port_80(nginx_host) == "filtered"


@pytest.mark.parametrize("firewall", FIREWALLS)
def test_opened_port_survives_a_reboot(nginx_host: Host, deb: Path, firewall: str) -> None:
    FIREWALLS[firewall](nginx_host)
    nginx_host.apt_install(deb)
    nginx_host.reboot()
    assert nginx_host.wait_until_serving().text == "Hello World!"
    assert len(flaskapp_rules(nginx_host, firewall)) > 0


def test_opt_out_leaves_the_firewall_untouched(nginx_host: Host, deb: Path) -> None:
    drop_with_nftables(nginx_host)
    nginx_host.run("mkdir", "-p", "/etc/flaskapp")
    nginx_host.file("/etc/flaskapp/firewall.conf").write("OPEN_HTTP_PORT=no\n")
    ruleset = nginx_host.run("nft", "list", "ruleset").stdout

    output = nginx_host.apt_install(deb).stdout

    assert "firewall left alone: OPEN_HTTP_PORT=no" in output
    assert nginx_host.run("nft", "list", "ruleset").stdout == ruleset
    assert port_80(nginx_host) == "filtered"
    assert nginx_host.run("curl", "--silent", "http://localhost/").stdout == "Hello World!"


def test_no_firewall_changes_nothing_and_says_so(host: Host, deb: Path) -> None:
    output = host.apt_install(deb).stdout
    assert "no firewall drops incoming traffic here; nothing to open for port 80" in output
    assert port_80(host) == "open"
