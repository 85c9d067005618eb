"""The flaskapp nginx site, enabled and applied the way Debian packages do it: only where the
admin has not decided otherwise, and never leaving nginx with a configuration that fails
`nginx -t`.

The site (/etc/nginx/sites-available/flaskapp) is a conffile that nothing edits. What the
settings decide (its names, whether it is the default server) is written to listen.conf,
which the site includes; markers record what the package itself changed, so that only that
is undone later.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import app_boundary, tls
from .settings import Settings

NGINX = Path("/etc/nginx")
STATE = Path("/var/lib/flaskapp/nginx")
PORT = 80

Say = Callable[[str], None]


class NginxError(Exception):
    pass


@dataclass
class Paths:
    nginx: Path = NGINX
    state: Path = STATE
    venv: Path = app_boundary.VENV
    # The running version's files while an upgrade is not configured yet (debian/flaskapp.preinst).
    running: Path = Path("/opt/venvs/.flaskapp-running")

    @property
    def site(self) -> Path:
        return self.nginx / "sites-available/flaskapp"

    @property
    def link(self) -> Path:
        return self.nginx / "sites-enabled/flaskapp"

    @property
    def default_link(self) -> Path:
        return self.nginx / "sites-enabled/default"

    @property
    def listen_conf(self) -> Path:
        # Included by the site; generated from /etc/flaskapp/site.conf.
        return self.state / "listen.conf"

    @property
    def tls_conf(self) -> Path:
        # Included by the site: HTTPS (certificate, TLS settings, redirect), from site.conf.
        return self.state / "tls.conf"

    @property
    def host_names(self) -> Path:
        # Included by the site's map of $flaskapp_host: the Host the app sees, from SERVER_NAMES.
        return self.state / "host-names.map"

    @property
    def trusted_proxies(self) -> Path:
        # Included by the site: the balancers whose X-Forwarded-For names the client.
        return self.state / "trusted-proxies.conf"

    @property
    def proxy_key_conf(self) -> Path:
        # Included by the site's location: the header that proves a request came through nginx.
        return self.state / "proxy-key.conf"

    @property
    def static_conf(self) -> Path:
        # Included by the site: a location for the app's static files, if it has any.
        return self.state / "static.conf"

    @property
    def generated(self) -> tuple[Path, ...]:
        """What flaskapp-site writes for the site to include."""
        return (self.listen_conf, self.tls_conf, self.host_names, self.trusted_proxies, self.proxy_key_conf,
                self.static_conf)

    @property
    def static_link(self) -> Path:
        # What static.conf serves: a link to the app's static folder, so that the site's path
        # never names the venv's Python version and survives a distribution upgrade.
        return self.state / "static"

    @property
    def app_description(self) -> Path:
        # Where the app's static files are, as the app itself says (flaskapp-site prepare-app),
        # once app_boundary accepted it.
        return self.state / "app.json"

    @property
    def site_mark(self) -> Path:
        # Present once the package has enabled the site: from then on, whether it stays
        # enabled is the admin's decision. The package's own remove takes it away with the link.
        return self.state / "site-enabled-by-package"

    @property
    def default_mark(self) -> Path:
        # Present when the package disabled Debian's default site; purge enables it again.
        return self.state / "default-disabled-by-package"

    @property
    def loaded_mark(self) -> Path:
        # What nginx was last reloaded with, as far as flaskapp is concerned.
        return self.state / "loaded-site.sha256"


# --- what nginx has ----------------------------------------------------------------------------

def check() -> str | None:
    """None when `nginx -t` passes, else what nginx said."""
    result = subprocess.run(["nginx", "-t"], capture_output=True, text=True)
    return None if result.returncode == 0 else (result.stderr + result.stdout).strip()


LISTEN = re.compile(r"(?:^|[{;\s])listen\s+([^;#]*);")


def claims_default(config: str, port: int = PORT) -> bool:
    """Whether a site's text has `listen … default_server` (or nginx's older `default`) on port."""
    for match in LISTEN.finditer(re.sub(r"#[^\n]*", "", config)):
        address, *parameters = match.group(1).split()
        if "default_server" not in parameters and "default" not in parameters:
            continue
        port_text = address.rsplit("]:", 1)[-1] if address.startswith("[") else address.rsplit(":", 1)[-1]
        if port_text.isdigit() and int(port_text) == port:
            return True
        if not port_text.isdigit() and "unix:" not in address:
            return True  # an address alone listens on port 80
    return False


def other_default_server(paths: Paths) -> Path | None:
    """The enabled site (or conf.d file) other than flaskapp's that claims the default server."""
    candidates = [*sorted((paths.nginx / "conf.d").glob("*.conf")),
                  *sorted((paths.nginx / "sites-enabled").glob("*"))]
    for path in candidates:
        if path.name == "flaskapp" and path.parent.name == "sites-enabled":
            continue
        try:
            if claims_default(path.read_text(errors="replace")):
                return path
        except OSError:
            continue
    return None


def stock_default_site(paths: Paths) -> bool:
    """Whether sites-enabled/default is the link to Debian's default site, as nginx-common
    shipped it. An admin who made it their real site keeps it."""
    link, available = paths.default_link, paths.nginx / "sites-available/default"
    if not link.is_symlink() or link.resolve() != available.resolve() or not available.is_file():
        return False
    shipped = subprocess.run(["dpkg-query", "--showformat=${Conffiles}\n", "--show", "nginx-common"],
                             capture_output=True, text=True).stdout
    for line in shipped.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == str(NGINX / "sites-available/default"):
            return hashlib.md5(available.read_bytes()).hexdigest() == words[1]
    return False


def fingerprint(paths: Paths) -> str:
    """What nginx loads of flaskapp's doing: its site and settings, and which of it and the
    default site are enabled. (Other sites are the admin's: they reload nginx themselves.)"""
    digest = hashlib.sha256()
    for path in (paths.site, *paths.generated):
        digest.update(path.read_bytes() if path.is_file() else b"-")
    for link in (paths.link, paths.default_link, paths.static_link):
        digest.update(os.readlink(link).encode() if link.is_symlink() else b"-")
    # The certificate in use: replacing its files (TLS=own) needs a reload to be served.
    for path in certificate_files(paths):
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()


def serves_https(paths: Paths) -> bool:
    """Whether the site, as last written, serves port 443."""
    return paths.listen_conf.is_file() and "listen 443 " in paths.listen_conf.read_text()


def certificate_files(paths: Paths) -> list[Path]:
    text = paths.tls_conf.read_text() if paths.tls_conf.is_file() else ""
    return [Path(found) for found in re.findall(r"^ssl_certificate(?:_key)? (\S+);$", text, re.MULTILINE)]


# --- changes, and undoing them -------------------------------------------------------------------

@dataclass
class Snapshot:
    """The files a configure may change, as they were: put back if nginx rejects the result."""
    files: dict[Path, tuple[str, bytes | str] | None]

    @classmethod
    def take(cls, paths: Paths) -> Snapshot:
        files: dict[Path, tuple[str, bytes | str] | None] = {}
        for path in (paths.link, paths.default_link, *paths.generated, paths.static_link, paths.site_mark,
                     paths.default_mark):
            if path.is_symlink():
                files[path] = ("link", os.readlink(path))
            elif path.is_file():
                files[path] = ("file", path.read_bytes())
            else:
                files[path] = None
        return cls(files)

    def restore(self) -> None:
        for path, was in self.files.items():
            if path.is_symlink() or path.is_file():
                path.unlink()
            if was is None:
                continue
            kind, content = was
            if kind == "link":
                path.symlink_to(content)
            else:
                path.write_bytes(content)


def render_listen(settings: Settings, default_server: bool, https: str = "") -> str:
    """listen.conf; `https`: the 443 lines (tls.render_listen_https) when a certificate is in use."""
    flag = " default_server" if default_server else ""
    return (
        "# Written by flaskapp-site from /etc/flaskapp/site.conf: edit that file, then run\n"
        "# `flaskapp-site apply`. Included by /etc/nginx/sites-available/flaskapp.\n"
        f"listen {PORT}{flag};\n"
        f"listen [::]:{PORT}{flag};\n"
        f"{https}"
        f"server_name {' '.join(settings.server_names)};\n"
    )


def render_host_names(settings: Settings) -> str:
    """The map from the request's host to the Host the app sees: each of SERVER_NAMES to
    itself, and any other (an IP address, a made-up name) to the first exact name. With no
    exact name (`_`, wildcards alone), the client's host goes through as it is."""
    written = ("# Written by flaskapp-site from SERVER_NAMES in /etc/flaskapp/site.conf: the Host\n"
               "# the app sees. Included by the map in /etc/nginx/sites-available/flaskapp.\n")
    names = [name for name in settings.server_names if name != "_"]
    exact = [name for name in names if not name.startswith(("~", ".", "*")) and not name.endswith("*")]
    if not exact:
        return written + "# SERVER_NAMES names no host: the client's host goes through.\n"
    return (written + "".join(f"{name} $host;\n" for name in names)
            + f"# Any other: the first name.\n~. {exact[0]};\n")


def render_trusted_proxies(settings: Settings) -> str:
    written = ("# Written by flaskapp-site from TRUSTED_PROXIES in /etc/flaskapp/site.conf.\n"
               "# Included by /etc/nginx/sites-available/flaskapp.\n")
    if not settings.trusted_proxies:
        return written + "# None: the client is whoever connects to nginx.\n"
    return (written + "".join(f"set_real_ip_from {proxy};\n" for proxy in settings.trusted_proxies)
            + "real_ip_header X-Forwarded-For;\nreal_ip_recursive on;\n")


PROXY_KEY = Path("/etc/flaskapp/proxy_key")
PROXY_KEY_HEADER = "X-Flaskapp-Proxy-Key"


def write_proxy_key(paths: Paths, key_file: Path = PROXY_KEY) -> None:
    """The header with the key (postinst made it), in a file for root alone: nginx's master
    reads it as root."""
    try:
        key = key_file.read_text().strip()
    except FileNotFoundError:
        key = ""
    fd = os.open(paths.proxy_key_conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as conf:
        conf.write("# Written by flaskapp-site from /etc/flaskapp/proxy_key: nginx's proof to the app.\n")
        if re.fullmatch(r"[0-9a-f]{64}", key):
            conf.write(f'proxy_set_header {PROXY_KEY_HEADER} "{key}";\n')


def render_static(url_path: str | None, link: Path) -> str:
    if not url_path:
        return "# The app has no static folder.\n"
    return (
        "# Written by flaskapp-site: the app's static files, served by nginx without gunicorn.\n"
        f"location {url_path.rstrip('/')}/ {{\n"
        f"    alias {link}/;\n"
        "    # The one link followed is flaskapp-site's own, to the static folder in the venv.\n"
        f"    disable_symlinks on from={link};\n"
        "    # Revalidated on every use (Cache-Control: no-cache, with ETag and Last-Modified):\n"
        "    # a 304 costs nothing, and no browser keeps a file that an upgrade replaced.\n"
        "    # (`expires`, not add_header, which would drop the server's own headers here.)\n"
        "    expires epoch;\n"
        "}\n"
    )


def without_python_version(folder: str, venv: Path) -> str:
    """The folder by a path through the venv's lib/python3 link (made by the build) rather
    than lib/python3.11: the link, and so nginx's configuration, stays the same when a
    release upgrade brings another Python, and nginx is not reloaded for nothing."""
    return re.sub(rf"^({re.escape(str(venv))}/lib/python3)\.\d+/", r"\1/", folder)


def write_static(paths: Paths, warn: Say) -> None:
    """static.conf and its link, from what the app said of itself at configure. While an
    upgrade waits for its configure, the link goes to the running version's copy of the folder
    (the version that serves; preinst pointed it there)."""
    try:
        described = app_boundary.description(paths.app_description.read_text(), paths.venv)
    except FileNotFoundError:
        described = app_boundary.Description()
    except app_boundary.Refused as error:
        warn(f"{error}; nginx serves no static files of the app's (gunicorn does)")
        described = app_boundary.Description()
    folder, url_path = described.static_folder, described.static_url_path
    if paths.static_link.is_symlink():
        paths.static_link.unlink()
    if folder and url_path:
        folder = without_python_version(folder, paths.venv)
        if paths.running.is_dir():
            folder = str(paths.running) + folder[len(str(paths.venv)):]
        paths.static_link.symlink_to(folder)
    paths.static_conf.write_text(render_static(url_path if folder else None, paths.static_link))


def enable_once(paths: Paths, say: Say) -> None:
    """Enables the site unless the package did so before (an admin who removed the link keeps
    it removed), and disables Debian's stock default site with it, as the tutorial does."""
    if paths.site_mark.exists():
        return
    if not paths.link.exists() and not paths.link.is_symlink():
        paths.link.symlink_to("../sites-available/flaskapp")
        say(f"enabled nginx site {paths.link}")
    paths.site_mark.touch()
    if stock_default_site(paths):
        paths.default_link.unlink()
        paths.default_mark.touch()
        say("disabled nginx's default site (purging flaskapp enables it again)")


def default_role(settings: Settings, paths: Paths) -> tuple[bool, str]:
    """Whether flaskapp is the default server, and which site answers requests by IP."""
    other = other_default_server(paths)
    if settings.default_server == "no" or (settings.default_server == "auto" and other):
        if other:
            return False, f"{other} (its default_server)"
        return False, "the first server nginx loads for port 80 (DEFAULT_SERVER=no)"
    return True, "flaskapp (the default server)"


def reload(say: Say) -> None:
    """Reloads nginx if it runs; a stopped nginx picks the configuration up when started."""
    if subprocess.run(["systemctl", "is-active", "--quiet", "nginx.service"]).returncode != 0:
        say("nginx is not running; the site is served once it is started")
        return
    # In a maintainer script, through invoke-rc.d's policy (policy-rc.d in a chroot build).
    command = ["deb-systemd-invoke"] if os.environ.get("DPKG_MAINTSCRIPT_PACKAGE") else ["systemctl"]
    result = subprocess.run([*command, "reload", "nginx.service"], capture_output=True, text=True)
    if result.returncode != 0:
        raise NginxError(f"reloading nginx failed: {(result.stderr or result.stdout).strip()}")


def indented(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def apply(settings: Settings, paths: Paths, say: Say, warn: Say) -> bool:
    """postinst configure and `flaskapp-site apply`: enable the site if due, write its
    settings, and reload nginx if anything of flaskapp's changed, but only onto a
    configuration that passes `nginx -t`. Otherwise everything goes back as it was and
    nginx keeps serving its previous configuration. True when the site serves HTTPS."""
    try:
        certificate = tls.certificate_for(settings)  # TLS=own: the admin's files checked first
    except tls.TlsError as error:
        raise NginxError(f"{error}\nflaskapp changed nothing: the site keeps serving as it was.") from None
    paths.state.mkdir(parents=True, exist_ok=True)
    (paths.state / "loaded-site.md5").unlink(missing_ok=True)  # flaskapp 0.1's fingerprint
    snapshot = Snapshot.take(paths)
    enable_once(paths, say)
    is_default, answers_by_ip = default_role(settings, paths)
    version = tls.nginx_version()
    https = tls.render_listen_https(is_default, version) if certificate else ""
    paths.listen_conf.write_text(render_listen(settings, is_default, https))
    paths.tls_conf.write_text(tls.render_tls(settings, certificate, version))
    paths.host_names.write_text(render_host_names(settings))
    paths.trusted_proxies.write_text(render_trusted_proxies(settings))
    write_proxy_key(paths)
    if settings.tls == "acme" and certificate is None:
        tls.WEBROOT.mkdir(parents=True, exist_ok=True)
        say("TLS=acme: no certificate yet; the site serves HTTP until "
            "`flaskapp-site certificate` obtains one")
    elif certificate and settings.tls == "acme":
        missing = set(settings.server_names) - tls.names_covered(certificate)
        if missing:
            warn(f"the certificate does not cover {' '.join(sorted(missing))}: "
                 "run `flaskapp-site certificate`")
    write_static(paths, warn)
    site = paths.site.read_text() if paths.link.exists() else ""
    for included, what in ((paths.listen_conf, "SERVER_NAMES and DEFAULT_SERVER"), (paths.tls_conf, "TLS")):
        if site and str(included) not in site:
            warn(f"{paths.site} does not include {included} (an edited copy from an older "
                 f"version?): {what} do not apply to it; see {paths.site}.dpkg-dist")
    if site and "/proxy-key" not in site:
        warn(f"{paths.site} does not include {paths.proxy_key_conf} (an edited copy from an older "
             "version?): the app takes no client address or HTTPS from nginx's headers; see "
             f"{paths.site}.dpkg-dist")

    current = fingerprint(paths)
    loaded = paths.loaded_mark.read_text().strip() if paths.loaded_mark.exists() else ""
    problem = check()
    if current == loaded:
        if problem:
            # Nothing of flaskapp's to load: nginx's own trouble is not flaskapp's to fail on.
            warn("nginx's configuration is invalid elsewhere; flaskapp's site is unchanged and "
                 f"needs no reload. Fix nginx:\n{indented(problem)}")
        return certificate is not None
    if problem is None:
        reload(say)
        paths.loaded_mark.write_text(current + "\n")
        if paths.link.exists():
            say(f"requests by IP address or an unknown host name are answered by {answers_by_ip}")
            if certificate:
                say(f"HTTPS on port 443 with {certificate.chain}; HTTP redirects to it")
        return certificate is not None

    snapshot.restore()
    if check() is not None:
        raise NginxError(
            f"nginx's configuration is invalid:\n{indented(problem)}\n"
            "flaskapp changed nothing, and nginx keeps serving its previous configuration. "
            "Fix it, then run 'dpkg --configure -a' (or 'flaskapp-site apply')."
        )
    raise NginxError(
        f"nginx rejects the flaskapp site:\n{indented(problem)}\n"
        "flaskapp put back what it changed, and nginx keeps serving its previous configuration. "
        f"Fix {paths.site} or /etc/flaskapp/site.conf, then run 'dpkg --configure -a' "
        "(or 'flaskapp-site apply')."
    )


def disable(paths: Paths, say: Say, warn: Say) -> None:
    """prerm remove: takes the site out of nginx (a later configure enables it again)."""
    if not paths.link.is_symlink():
        return
    paths.link.unlink()
    paths.site_mark.unlink(missing_ok=True)
    say(f"disabled nginx site {paths.link}")
    problem = check()
    if problem:
        paths.loaded_mark.unlink(missing_ok=True)
        warn(f"nginx's configuration is invalid, so nginx was not reloaded; it stops serving "
             f"flaskapp once it is fixed and reloaded:\n{indented(problem)}")
        return
    reload(say)
    paths.loaded_mark.write_text(fingerprint(paths) + "\n")
