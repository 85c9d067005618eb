"""The one settings file, /etc/flaskapp/site.conf: KEY=value lines read the way an admin
writes them (comments, quotes, any case of yes/no), and refused when a value means nothing.

It is parsed, never sourced: nothing in it runs as root.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

SETTINGS = Path("/etc/flaskapp/site.conf")
# Where OPEN_HTTP_PORT lived before site.conf (flaskapp 0.1): still read, site.conf wins.
LEGACY_FIREWALL_SETTINGS = Path("/etc/flaskapp/firewall.conf")

TRUE = {"yes", "y", "true", "on", "1"}
FALSE = {"no", "n", "false", "off", "0"}
# nginx's server_name: host names, wildcards (*.example.org, .example.org), "_", or ~regex.
SERVER_NAME = re.compile(r"^(_|~\S+|\.?(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
                         r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(\.\*)?)$")
KNOWN = {"SERVER_NAMES", "DEFAULT_SERVER", "OPEN_HTTP_PORT",
         "TLS", "TLS_CERTIFICATE", "TLS_KEY", "ACME_SERVER", "ACME_EMAIL", "HSTS",
         "PROCESSES", "JOBS", "TRUSTED_PROXIES", "BACKUP_KEEP", "BACKUP_MAX_AGE_DAYS"}
# PROCESSES=worker=2 clock=0: a count per process type, as Heroku's `ps:scale`.
SCALE_ITEM = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_-]*)=([0-9]+)$")
MOST_INSTANCES = 64
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


class SettingsError(Exception):
    """A setting that cannot be understood: the caller changes nothing and says this."""


@dataclass(frozen=True)
class Settings:
    server_names: list[str] = field(default_factory=lambda: ["_"])
    # "auto": flaskapp answers requests by IP unless another enabled site claims to.
    default_server: str = "auto"
    open_http_port: bool = True
    # off | acme (a certificate from ACME_SERVER, by certbot) | own (TLS_CERTIFICATE, TLS_KEY)
    tls: str = "off"
    tls_certificate: str = ""
    tls_key: str = ""
    acme_server: str = LETS_ENCRYPT
    acme_email: str = ""
    hsts: bool = False
    # Process type -> how many run here (the app's declared counts where it names none).
    processes: dict[str, int] = field(default_factory=dict)
    # Whether this host runs the app's scheduled jobs (a fleet runs them on one host).
    jobs: bool = True
    # Balancers in front of nginx whose X-Forwarded-For names the client (addresses, networks).
    trusted_proxies: list[str] = field(default_factory=list)
    # Backups kept in /var/backups/flaskapp: at most this many, none older than this (the
    # newest is always kept).
    backup_keep: int = 7
    backup_max_age_days: int = 30
    warnings: list[str] = field(default_factory=list)


def _value(raw: str) -> str:
    """The value as an admin means it: surrounding quotes and a trailing comment dropped."""
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1)
        if end == -1:
            raise ValueError(f"unterminated quote in {raw!r}")
        rest = raw[end + 1:].strip()
        if rest and not rest.startswith("#"):
            raise ValueError(f"unexpected text after the quoted value: {rest!r}")
        return raw[1:end].strip()
    return re.split(r"\s#", raw, maxsplit=1)[0].strip()


def parse(text: str, source: Path | str) -> dict[str, tuple[str, int]]:
    """KEY -> (value, line number). The last assignment of a key wins, as in a shell."""
    values: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = re.match(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$", stripped)
        if not match:
            raise SettingsError(f"{source}, line {number}: not KEY=value: {stripped!r}")
        try:
            values[match.group(1).upper()] = (_value(match.group(2)), number)
        except ValueError as error:
            raise SettingsError(f"{source}, line {number}: {error}") from None
    return values


def boolean(key: str, value: str, where: str) -> bool:
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise SettingsError(f"{key}={value!r} ({where}): must be yes or no")


def load(path: Path = SETTINGS, legacy: Path = LEGACY_FIREWALL_SETTINGS) -> Settings:
    values: dict[str, tuple[str, str]] = {}
    warnings = []
    for source in (legacy, path):  # site.conf last: it wins
        try:
            text = source.read_text()
        except FileNotFoundError:
            continue
        except OSError as error:
            raise SettingsError(f"cannot read {source}: {error.strerror}") from None
        for key, (value, line) in parse(text, source).items():
            if source == legacy and key != "OPEN_HTTP_PORT":
                continue
            if key not in KNOWN:
                warnings.append(f"{source}, line {line}: unknown setting {key} (ignored)")
                continue
            values[key] = (value, f"{source}, line {line}")

    settings: dict = {"warnings": warnings}
    if "OPEN_HTTP_PORT" in values:
        settings["open_http_port"] = boolean("OPEN_HTTP_PORT", *values["OPEN_HTTP_PORT"])
    if "DEFAULT_SERVER" in values:
        value, where = values["DEFAULT_SERVER"]
        if value.lower() == "auto":
            settings["default_server"] = "auto"
        else:
            try:
                settings["default_server"] = "yes" if boolean("DEFAULT_SERVER", value, where) else "no"
            except SettingsError:
                raise SettingsError(f"DEFAULT_SERVER={value!r} ({where}): must be yes, no or auto") from None
    if "SERVER_NAMES" in values:
        value, where = values["SERVER_NAMES"]
        names = value.replace(",", " ").split()
        bad = [name for name in names if not SERVER_NAME.match(name)]
        if bad:
            raise SettingsError(f"SERVER_NAMES ({where}): not a host name: {' '.join(bad)}")
        settings["server_names"] = names or ["_"]
    settings.update(load_tls(values, settings.get("server_names", ["_"])))
    if "JOBS" in values:
        settings["jobs"] = boolean("JOBS", *values["JOBS"])
    if "PROCESSES" in values:
        settings["processes"] = scale("PROCESSES", *values["PROCESSES"])
    if "TRUSTED_PROXIES" in values:
        value, where = values["TRUSTED_PROXIES"]
        proxies = []
        for item in value.replace(",", " ").split():
            try:
                proxies.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise SettingsError(f"TRUSTED_PROXIES ({where}): not an IP address or network: "
                                    f"{item!r}") from None
        settings["trusted_proxies"] = proxies
    for key in ("BACKUP_KEEP", "BACKUP_MAX_AGE_DAYS"):
        if key in values:
            value, where = values[key]
            if not re.fullmatch(r"[1-9][0-9]{0,4}", value):
                raise SettingsError(f"{key}={value!r} ({where}): must be a whole number from 1")
            settings[key.lower()] = int(value)
    return Settings(**settings)


def scale(key: str, value: str, where: str) -> dict[str, int]:
    counts = {}
    for item in value.replace(",", " ").split():
        match = SCALE_ITEM.match(item)
        if not match or int(match[2]) > MOST_INSTANCES:
            raise SettingsError(f"{key}={value!r} ({where}): must be type=count pairs, e.g. "
                                f"worker=2 clock=0 (0 to {MOST_INSTANCES}), not {item!r}")
        counts[match[1]] = int(match[2])
    return counts


def load_tls(values: dict[str, tuple[str, str]], server_names: list[str]) -> dict:
    tls: dict = {}
    if "HSTS" in values:
        tls["hsts"] = boolean("HSTS", *values["HSTS"])
    for key in ("TLS_CERTIFICATE", "TLS_KEY", "ACME_EMAIL"):
        if key in values:
            tls[key.lower()] = values[key][0]
    if "ACME_SERVER" in values:
        value, where = values["ACME_SERVER"]
        if not value.startswith("https://"):
            raise SettingsError(f"ACME_SERVER={value!r} ({where}): must be an https:// directory URL")
        tls["acme_server"] = value
    if "TLS" not in values:
        return tls
    value, where = values["TLS"]
    mode = value.lower()
    if mode in FALSE:
        mode = "off"
    if mode not in ("off", "acme", "own"):
        raise SettingsError(f"TLS={value!r} ({where}): must be off, acme or own")
    if mode == "own" and not (tls.get("tls_certificate") and tls.get("tls_key")):
        raise SettingsError(f"TLS=own ({where}) needs TLS_CERTIFICATE and TLS_KEY: "
                            "the files of your certificate")
    if mode == "acme":
        # HTTP-01 proves one host name at a time: no catch-all, wildcard or regex.
        unfit = [name for name in server_names if name == "_" or "*" in name or name.startswith(("~", "."))]
        if unfit:
            raise SettingsError(f"TLS=acme ({where}) needs SERVER_NAMES to be the site's host names "
                                f"(not {' '.join(unfit)}): the certificate is for them")
    tls["tls"] = mode
    return tls
