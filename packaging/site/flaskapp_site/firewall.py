"""nginx's port in whatever firewall the host runs: opened only where the firewall would
drop it, placed after the admin's own rules so that their drops still win, and closed again
exactly as it was opened.

ufw and firewalld manage iptables/nftables themselves, so when one runs it alone is used.
Otherwise a packet must pass every input chain that drops: iptables' (and ip6tables', and
those of iptables-legacy beside an nft-based iptables) and every native nftables chain.

Rules are marked "flaskapp" for port 80 and "flaskapp-https" for port 443 (an
iptables/nftables comment, ufw's application profile and firewalld's service of that name),
so closing takes away exactly what opening added, port by port.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

STATE = Path("/var/lib/flaskapp/firewall")


@dataclass(frozen=True)
class Port:
    number: int
    mark: str     # the rules' comment, ufw's application profile, firewalld's service
    service: str  # firewalld's own service for the port, which an admin may have allowed

    def marker(self, backend: str) -> Path:
        """Where the package notes that it opened the port in `backend` (ufw, firewalld)."""
        return STATE / (backend if self.mark == HTTP_MARK else f"{backend}-{self.service}")


HTTP_MARK = "flaskapp"
HTTP = Port(80, HTTP_MARK, "http")
HTTPS = Port(443, "flaskapp-https", "https")
# Port names that ufw and nft may print instead of numbers.
SERVICE_PORTS = {"http": 80, "www": 80, "https": 443}

Say = Callable[[str], None]


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


class FirewallError(Exception):
    pass


def checked(*argv: str) -> str:
    result = run(*argv)
    if result.returncode != 0:
        raise FirewallError(f"{' '.join(argv)}: {(result.stderr or result.stdout).strip()}")
    return result.stdout


# --- port specifications, as each tool prints them ----------------------------------------

def port_in(spec: str, port: int, separator: str = ",", span: str = ":") -> bool:
    """Whether `spec` ("80", "22,80,443", "1:1024", "http") covers `port`."""
    for part in spec.split(separator):
        part = part.strip()
        if span in part:
            low, _, high = part.partition(span)
            if low.isdigit() and high.isdigit() and int(low) <= port <= int(high):
                return True
        elif (int(part) if part.isdigit() else SERVICE_PORTS.get(part)) == port:
            return True
    return False


# --- iptables ------------------------------------------------------------------------------

@dataclass
class IptablesChain:
    policy: str
    rules: list[list[str]]  # the arguments of each `-A INPUT …`, in order

    @classmethod
    def parse(cls, text: str) -> IptablesChain:
        policy, rules = "ACCEPT", []
        for line in text.splitlines():
            words = shlex.split(line)
            if words[:2] == ["-P", "INPUT"]:
                policy = words[2]
            elif words[:2] == ["-A", "INPUT"]:
                rules.append(words[2:])
        return cls(policy, rules)

    @staticmethod
    def is_catch_all(rule: list[str]) -> bool:
        """`-j DROP` or `-j REJECT …` with no match: every packet that gets there ends."""
        words = without_comment(rule)
        return words[:2] in (["-j", "DROP"], ["-j", "REJECT"]) and all(
            w.startswith("--reject-with") or w.startswith("icmp") or w.startswith("tcp-reset")
            for w in words[2:]
        )

    @staticmethod
    def accepts_everyone_on(rule: list[str], port: int) -> bool:
        """A plain ACCEPT of new TCP connections to `port` from anywhere on any interface."""
        words = without_comment(rule)
        if words[-2:] != ["-j", "ACCEPT"]:
            return False
        words, covered, tcp = words[:-2], False, False
        while words:
            option, words = words[0], words[1:]
            if option == "-p" and words and words[0] in ("tcp", "6"):
                tcp, words = True, words[1:]
            elif option == "-m" and words and words[0] in ("tcp", "multiport", "state", "conntrack"):
                words = words[1:]
            elif option in ("--state", "--ctstate") and words and "NEW" in words[0].split(","):
                words = words[1:]
            elif option in ("--dport", "--dports", "--destination-port", "--destination-ports") and words:
                covered, words = port_in(words[0], port), words[1:]
            else:
                return False  # a source, an interface, a negation, a rate limit …: not for everyone
        return tcp and covered

    def drops(self) -> bool:
        return self.policy == "DROP" or any(map(self.is_catch_all, self.rules))

    def first_catch_all(self) -> int | None:
        """1-based position of the first catch-all drop: rules after it are never reached."""
        for number, rule in enumerate(self.rules, start=1):
            if self.is_catch_all(rule):
                return number
        return None

    def reachable(self) -> list[list[str]]:
        end = self.first_catch_all()
        return self.rules if end is None else self.rules[:end - 1]


def without_comment(rule: list[str]) -> list[str]:
    words, out = list(rule), []
    while words:
        if words[:2] == ["-m", "comment"]:
            words = words[2:]
        elif words[0] == "--comment":
            words = words[2:]
        else:
            out.append(words.pop(0))
    return out


def our_rule(port: Port) -> list[str]:
    return ["-p", "tcp", "-m", "tcp", "--dport", str(port.number),
            "-m", "comment", "--comment", port.mark, "-j", "ACCEPT"]


def is_ours(rule: list[str], port: Port) -> bool:
    return "--comment" in rule and rule[rule.index("--comment") + 1] == port.mark


class Iptables:
    """One of iptables, ip6tables, iptables-legacy, ip6tables-legacy: the INPUT chain."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        self.name = tool

    def chain(self) -> IptablesChain | None:
        if not have(self.tool):
            return None
        result = run(self.tool, "-w", "-S", "INPUT")
        return IptablesChain.parse(result.stdout) if result.returncode == 0 else None

    def drops(self) -> bool:
        chain = self.chain()
        return chain is not None and chain.drops()

    def open(self, port: Port, say: Say) -> None:
        chain = self.chain()
        if chain is None:
            return
        ours = [rule for rule in chain.rules if is_ours(rule, port)]
        reachable = chain.reachable()
        if reachable and is_ours(reachable[-1], port) and len(ours) == 1:
            return  # from an earlier configure, still after every rule of the admin's
        # Anywhere else (flaskapp 0.1 inserted it first; the admin added rules since): moved.
        for rule in ours:
            checked(self.tool, "-w", "-D", "INPUT", *rule)
        chain = self.chain()
        if any(chain.accepts_everyone_on(rule, port.number) for rule in chain.reachable()):
            say(f"{self.tool} already accepts port {port.number}; left as it is")
            return
        # Last, or just before the catch-all drop: every drop of the admin's comes first.
        position = chain.first_catch_all()
        where = ["-I", "INPUT", str(position)] if position else ["-A", "INPUT"]
        checked(self.tool, "-w", *where, *our_rule(port))
        say(f"{self.tool}: accepted port {port.number}/tcp at the end of INPUT, after its other rules "
            f'(rule commented "{port.mark}")')

    def close(self, port: Port, say: Say) -> None:
        chain = self.chain()
        for rule in chain.rules if chain else []:
            if is_ours(rule, port):
                checked(self.tool, "-w", "-D", "INPUT", *rule)
                say(f"{self.tool}: removed the rule for port {port.number}/tcp")
        # `netfilter-persistent save` stores the live rules, flaskapp's too: without this,
        # the next boot would open the port again for a package that is gone.
        saved = SAVED_RULES.get(self.tool)
        if saved and forget_saved(saved, lambda line: line.startswith("-A INPUT ")
                                  and is_ours(shlex.split(line)[2:], port)):
            say(f"{self.tool}: removed flaskapp's rule from {saved}")


# Where netfilter-persistent saves each tool's rules.
SAVED_RULES = {"iptables": Path("/etc/iptables/rules.v4"), "ip6tables": Path("/etc/iptables/rules.v6")}


def forget_saved(path: Path, is_flaskapps: Callable[[str], bool]) -> bool:
    """Drops flaskapp's own lines from a saved rule set (and nothing else); True if any."""
    try:
        lines = path.read_text().splitlines(keepends=True)
    except OSError:
        return False
    kept = [line for line in lines if not is_flaskapps(line)]
    if len(kept) == len(lines):
        return False
    replace_file(path, "".join(kept))
    return True


def replace_file(path: Path, text: str) -> None:
    """`path` holds `text`, or, if anything fails on the way (a crash, a full disk), what it
    held: the firewall loads this file at the next boot, and a truncated one would leave the
    host open or shut. Written beside it with its owner and mode, flushed to disk, renamed."""
    new = path.with_name(f".{path.name}.flaskapp-new")
    status = path.stat()
    try:
        fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IMODE(status.st_mode))
        with os.fdopen(fd, "w") as file:
            os.fchown(file.fileno(), status.st_uid, status.st_gid)
            os.fchmod(file.fileno(), stat.S_IMODE(status.st_mode))
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(new, path)
    except BaseException:
        new.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def iptables_tools() -> list[str]:
    """The iptables front ends whose rules are live here. With the nft variant as `iptables`
    (Debian's default), rules loaded by iptables-legacy sit in other tables that it does not
    show, and packets pass both."""
    tools = ["iptables", "ip6tables"]
    version = run("iptables", "-V").stdout if have("iptables") else ""
    if "nf_tables" in version:
        tools += [f"{tool}-legacy" for tool in tools if have(f"{tool}-legacy")]
    return tools


# --- nftables -------------------------------------------------------------------------------

def nft_port_covers(right: object, port: int) -> bool:
    if isinstance(right, int):
        return right == port
    if isinstance(right, str):
        return SERVICE_PORTS.get(right) == port or (right.isdigit() and int(right) == port)
    if isinstance(right, dict):
        if "set" in right:
            return any(nft_port_covers(item, port) for item in right["set"])
        if "range" in right:
            low, high = right["range"]
            return int(low) <= port <= int(high)
    if isinstance(right, list):
        return any(nft_port_covers(item, port) for item in right)
    return False


def nft_expr_kind(expr: dict, port: int) -> str:
    """"dport" (tcp dport covering port), "tcp", "new", "neutral" (counter, log) or "other"."""
    if "counter" in expr or "log" in expr:
        return "neutral"
    match = expr.get("match")
    if not match or match.get("op") not in ("==", "in"):
        return "other"
    left, right = match.get("left", {}), match.get("right")
    if left.get("payload", {}) == {"protocol": "tcp", "field": "dport"}:
        return "dport" if nft_port_covers(right, port) else "other"
    if left.get("meta", {}).get("key") == "l4proto" and right in ("tcp", 6):
        return "tcp"
    if left.get("payload", {}) == {"protocol": "ip", "field": "protocol"} and right in ("tcp", 6):
        return "tcp"
    if left.get("ct", {}).get("key") == "state" and "new" in (right if isinstance(right, list) else [right]):
        return "new"
    return "other"


def nft_accepts_everyone_on(rule: dict, port: int) -> bool:
    exprs = rule.get("expr", [])
    if not exprs or "accept" not in exprs[-1]:
        return False
    kinds = [nft_expr_kind(expr, port) for expr in exprs[:-1]]
    return "dport" in kinds and "other" not in kinds


def nft_is_catch_all(rule: dict) -> bool:
    exprs = rule.get("expr", [])
    return bool(exprs) and ("drop" in exprs[-1] or "reject" in exprs[-1]) and all(
        "counter" in expr or "log" in expr for expr in exprs[:-1]
    )


@dataclass
class NftChain:
    family: str
    table: str
    name: str
    policy: str
    rules: list[dict]

    def drops(self) -> bool:
        return self.policy == "drop" or any(map(nft_is_catch_all, self.rules))

    def first_catch_all(self) -> dict | None:
        return next((rule for rule in self.rules if nft_is_catch_all(rule)), None)

    def reachable(self) -> list[dict]:
        end = self.first_catch_all()
        return self.rules if end is None else self.rules[:self.rules.index(end)]

    @property
    def where(self) -> str:
        return f"{self.family} {self.table} {self.name}"


def nft_input_chains(ruleset: dict) -> list[NftChain]:
    """Every native nftables base chain on the input hook. iptables' own chains (ip/ip6
    filter INPUT, when iptables is the nft variant) are left to iptables, whose tool alone
    may change them."""
    chains: dict[tuple[str, str, str], NftChain] = {}
    for item in ruleset.get("nftables", []):
        if "chain" in item:
            chain = item["chain"]
            key = (chain["family"], chain["table"], chain["name"])
            iptables_own = chain["family"] in ("ip", "ip6") and chain["table"] == "filter" \
                and chain["name"] == "INPUT"
            if chain.get("hook") == "input" and chain.get("type", "filter") == "filter" and not iptables_own:
                chains[key] = NftChain(*key, chain.get("policy", "accept"), [])
        elif "rule" in item:
            rule = item["rule"]
            key = (rule["family"], rule["table"], rule["chain"])
            if key in chains:
                chains[key].rules.append(rule)
    return list(chains.values())


NFTABLES_CONF = Path("/etc/nftables.conf")


class Nftables:
    name = "nftables"

    def chains(self) -> list[NftChain]:
        if not have("nft"):
            return []
        result = run("nft", "--json", "--handle", "list", "ruleset")
        if result.returncode != 0 or not result.stdout.strip():
            return []
        return nft_input_chains(json.loads(result.stdout))

    def drops(self) -> bool:
        return any(chain.drops() for chain in self.chains())

    def open(self, port: Port, say: Say) -> None:
        for chain in self.chains():
            if not chain.drops():
                continue
            ours = [rule for rule in chain.rules if rule.get("comment") == port.mark]
            reachable = chain.reachable()
            if ours and reachable and ours == [reachable[-1]]:
                continue  # from an earlier configure, still after every rule of the admin's
            # Anywhere else (flaskapp 0.1 inserted it first; the admin added rules since): moved.
            for rule in ours:
                checked("nft", "delete", "rule", *chain.where.split(), "handle", str(rule["handle"]))
                chain.rules.remove(rule)
            if any(nft_accepts_everyone_on(rule, port.number) for rule in chain.reachable()):
                say(f"nftables chain {chain.where} already accepts port {port.number}; left as it is")
                continue
            # Last, or just before the catch-all drop: every drop of the admin's comes first.
            catch_all = chain.first_catch_all()
            verb = ["insert", "rule", *chain.where.split(), "position", str(catch_all["handle"])] \
                if catch_all else ["add", "rule", *chain.where.split()]
            checked("nft", *verb, "tcp", "dport", str(port.number), "accept", "comment", f'"{port.mark}"')
            say(f"nftables: accepted port {port.number}/tcp at the end of chain {chain.where}, "
                f'after its other rules (comment "{port.mark}")')

    def close(self, port: Port, say: Say) -> None:
        for chain in self.chains():
            for rule in chain.rules:
                if rule.get("comment") == port.mark:
                    checked("nft", "delete", "rule", *chain.where.split(), "handle", str(rule["handle"]))
                    say(f"nftables: removed the rule for port {port.number}/tcp from chain {chain.where}")
        # `nft list ruleset > /etc/nftables.conf` saves flaskapp's rule too: exactly its line goes.
        ours = f'tcp dport {port.number} accept comment "{port.mark}"'
        if forget_saved(NFTABLES_CONF, lambda line: line.strip() == ours):
            say(f"nftables: removed flaskapp's rule from {NFTABLES_CONF}")


# --- ufw --------------------------------------------------------------------------------------

def ufw_allows(status: str, port: int, app_ports: Callable[[str], str]) -> bool:
    """Whether `ufw status` shows an ALLOW IN of `port` from anywhere."""
    for line in status.splitlines():
        columns = [column.strip() for column in line.split("  ") if column.strip()]
        if len(columns) < 3 or not columns[1].startswith("ALLOW") or "OUT" in columns[1]:
            continue
        target, source = columns[0].removesuffix(" (v6)"), columns[2].removesuffix(" (v6)")
        if source != "Anywhere" or " on " in target:
            continue
        spec, _, protocol = target.partition("/")
        if protocol not in ("", "tcp"):
            continue
        if spec == "Anywhere":
            return True
        if spec[:1].isdigit():
            if port_in(spec, port):
                return True
        elif port_in(app_ports(target).split("/")[0], port, separator=","):
            return True
    return False


def ufw_app_ports(name: str) -> str:
    """"80,443/tcp" for an application profile, from `ufw app info`."""
    lines = run("ufw", "app", "info", name).stdout.splitlines()
    for number, line in enumerate(lines):
        if line.strip().startswith("Port"):
            return lines[number + 1].strip() if number + 1 < len(lines) else ""
    return ""


class Ufw:
    name = "ufw"

    def active(self) -> bool:
        return have("ufw") and "Status: active" in run("ufw", "status").stdout

    def open(self, port: Port, say: Say) -> None:
        status = checked("ufw", "status")
        mark = port.marker("ufw")
        if mark.exists() and f"{port.mark} " in status:
            return  # from an earlier configure
        if not mark.exists() and ufw_allows(status, port.number, ufw_app_ports):
            say(f"ufw already allows port {port.number}; left as it is")
            return
        # Appended: ufw matches in order, so the admin's earlier deny rules still win.
        checked("ufw", "allow", port.mark)
        STATE.mkdir(parents=True, exist_ok=True)
        mark.touch()
        say(f"ufw: allowed port {port.number}/tcp (application profile {port.mark})")

    def close(self, port: Port, say: Say) -> None:
        mark = port.marker("ufw")
        if not mark.exists():
            return
        if have("ufw"):
            checked("ufw", "delete", "allow", port.mark)
            say(f"ufw: removed the rule for port {port.number}/tcp")
        mark.unlink()


# --- firewalld -------------------------------------------------------------------------------

class Firewalld:
    """flaskapp's own service, not the shared "http": removing it never takes away an
    admin's. firewalld learns of service files only when it reloads its permanent
    configuration, which would also drop the admin's runtime-only changes; so the service
    is defined through firewalld itself (/etc/firewalld/services/flaskapp.xml, its own
    file), and the running firewall gets the port until its next reload."""

    name = "firewalld"

    def active(self) -> bool:
        return have("firewall-cmd") and run("firewall-cmd", "--state").stdout.strip() == "running"

    @staticmethod
    def runtime_allows(port: Port, *services: str) -> bool:
        return any(run("firewall-cmd", "--query-service", service).returncode == 0 for service in services) \
            or run("firewall-cmd", "--query-port", f"{port.number}/tcp").returncode == 0

    def open(self, port: Port, say: Say) -> None:
        mark = port.marker("firewalld")
        ours = run("firewall-cmd", "--permanent", "--query-service", port.mark).returncode == 0
        if ours and self.runtime_allows(port, port.mark):
            return  # from an earlier configure
        if not mark.exists() and not ours and self.runtime_allows(port, port.service):
            say(f"firewalld already allows port {port.number}; left as it is")
            return
        if run("firewall-cmd", "--permanent", "--info-service", port.mark).returncode != 0:
            checked("firewall-cmd", "--permanent", "--new-service", port.mark)
            checked("firewall-cmd", "--permanent", "--service", port.mark, "--add-port", f"{port.number}/tcp")
        if not ours:
            checked("firewall-cmd", "--permanent", "--add-service", port.mark)
        if not self.runtime_allows(port, port.mark):
            checked("firewall-cmd", "--add-port", f"{port.number}/tcp")
        STATE.mkdir(parents=True, exist_ok=True)
        mark.touch()
        say(f"firewalld: allowed port {port.number}/tcp (service {port.mark}), now and permanently")

    def close(self, port: Port, say: Say) -> None:
        mark = port.marker("firewalld")
        if not mark.exists():
            return
        if self.active():
            run("firewall-cmd", "--remove-service", port.mark)
            run("firewall-cmd", "--remove-port", f"{port.number}/tcp")
            run("firewall-cmd", "--permanent", "--remove-service", port.mark)
            checked("firewall-cmd", "--permanent", "--delete-service", port.mark)
            say(f"firewalld: removed service {port.mark}, now and permanently")
        elif have("firewall-offline-cmd"):
            # firewalld is stopped: its permanent configuration is changed in place.
            run("firewall-offline-cmd", "--remove-service", port.mark)
            checked("firewall-offline-cmd", "--delete-service", port.mark)
            say(f"firewalld (stopped): removed service {port.mark} from its permanent configuration")
        # firewalld keeps a backup of each file it deletes: of flaskapp's own, nothing stays.
        Path(f"/etc/firewalld/services/{port.mark}.xml.old").unlink(missing_ok=True)
        mark.unlink()


# --- the decision --------------------------------------------------------------------------

def choose(ufw: bool, firewalld: bool, dropping: Iterable[str]) -> list[str]:
    """Which firewalls to open the port in: ufw or firewalld alone when one runs (they
    manage iptables/nftables themselves), else every one whose input drops."""
    if ufw:
        return ["ufw"]
    if firewalld:
        return ["firewalld"]
    return list(dropping)


def backends() -> dict[str, object]:
    found: dict[str, object] = {tool: Iptables(tool) for tool in iptables_tools()}
    found["nftables"] = Nftables()
    return found


def open_port(port: Port, say: Say, warn: Say) -> None:
    ufw, firewalld = Ufw(), Firewalld()
    others = backends()
    chosen = choose(ufw.active(), firewalld.active(),
                    [name for name, backend in others.items() if backend.drops()])
    if not chosen:
        say(f"no firewall drops incoming traffic here; nothing to open for port {port.number}")
        return
    every = {"ufw": ufw, "firewalld": firewalld, **others}
    for name in chosen:
        try:
            every[name].open(port, say)
        except FirewallError as error:
            # A warning, not a failed install: the site still serves locally.
            warn(f"could not open port {port.number} in {name} ({error}); open it by hand (see README)")


def close_port(port: Port, say: Say, warn: Say) -> None:
    for backend in (Ufw(), Firewalld(), *backends().values()):
        try:
            backend.close(port, say)
        except FirewallError as error:
            warn(f"could not remove flaskapp's rule from {backend.name}: {error}")
