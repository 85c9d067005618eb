"""flaskapp-site: applies /etc/flaskapp/site.conf to nginx and the host firewall.

    flaskapp-site apply           after editing site.conf (postinst configure runs it too): nginx,
                                  the firewall, the app's workers and timers
    flaskapp-site remove          what prerm remove runs: the site out of nginx, the port closed
    flaskapp-site firewall open   the port as the settings say (at boot, after a firewall reload)
    flaskapp-site firewall close  takes away exactly the rules flaskapp added
    flaskapp-site certificate     TLS=acme: obtains the site's certificate from the ACME CA
                                  (certbot; renewed by certbot's timer), then serves HTTPS
    flaskapp-site status          the settings, which site answers requests by IP, and each of
                                  the app's processes and jobs (its state, last and next run)
    flaskapp-site unpin           while an upgrade's configure has not succeeded: serve the
                                  installed version anyway (restarts the service)
    flaskapp-site prepare-app install|upgrade
                                  loads the app as the service would, then runs the commands
                                  setup.cfg declares (postinst, before the service restarts);
                                  with no systemd running, records them for the first boot
    flaskapp-site backup          a backup of the app's state, secret key and settings into
                                  /var/backups/flaskapp, checked (flaskapp-backup.timer: daily)
    flaskapp-site list-backups    the backups there, oldest first
    flaskapp-site verify-backup FILE
                                  reads a backup back and checks it, changing nothing
    flaskapp-site restore FILE    the backup's state and settings in place of this host's
    flaskapp-site first-boot      what flaskapp-first-boot.service runs: the above, recorded
                                  by an install into an image, then nginx's part of the app
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from . import backup, firewall, first_boot, nginx, processes, tls
from .app_setup import prepare
from .as_service import PIN
from .settings import SETTINGS, Settings, SettingsError, load


def say(message: str) -> None:
    print(f"flaskapp: {message}", flush=True)


def warn(message: str) -> None:
    print(f"flaskapp: warning: {message}", file=sys.stderr, flush=True)


def systemd_runs_the_system() -> bool:
    """False in a chroot (mmdebstrap, piuparts, sbuild): it shares the build machine's
    network namespace, whose firewall is not this system's to change. debhelper's own
    snippets use the same test."""
    return Path("/run/systemd/system").is_dir()


def apply_firewall(settings: Settings, https: bool) -> None:
    """Port 80, and 443 while the site serves HTTPS, as OPEN_HTTP_PORT says."""
    if not systemd_runs_the_system():
        say("not running under systemd (a chroot?): the firewall is left alone")
        return
    for port, wanted in ((firewall.HTTP, True), (firewall.HTTPS, https)):
        if wanted and settings.open_http_port:
            firewall.open_port(port, say, warn)
        else:
            if wanted:
                say(f"firewall: port {port.number} is not opened (OPEN_HTTP_PORT=no in {SETTINGS})")
            firewall.close_port(port, say, warn)


def remove_from_firewall() -> None:
    for port in (firewall.HTTP, firewall.HTTPS):
        firewall.close_port(port, say, warn)


def fail(message: str) -> None:
    print(f"flaskapp: {message}", file=sys.stderr, flush=True)


def finish_first_boot() -> int:
    """Before nginx and the service start (the unit's order): nginx then starts with the app's
    static files in its configuration, and the first request finds the app set up."""
    phase = first_boot.pending()
    if phase is None:
        say("nothing left from an install into an image")
        return 0
    status = prepare(phase, say, fail)
    if status != 0:
        return status
    settings = load()
    for message in settings.warnings:
        warn(message)
    nginx.apply(settings, nginx.Paths(), say, warn)
    first_boot.done()
    say(f"finished the install's configure ({phase}): the app is set up")
    return 0


def unpin() -> int:
    """The one deliberate way past the upgrade pin: the admin's, not a restart's."""
    if not Path(PIN).is_symlink():
        say("no upgrade is waiting for its configure: the installed version serves")
        return 0
    warn("serving the installed version, whose configure (its migration) has not succeeded; "
         "'dpkg --configure -a' still has to run")
    subprocess.run(["/usr/lib/flaskapp/unpin", "release"], check=True)
    return subprocess.run(["systemctl", "restart", "flaskapp.service"]).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flaskapp-site", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("apply", help="apply /etc/flaskapp/site.conf to nginx and the firewall")
    commands.add_parser("remove", help="take the site out of nginx and close the port")
    firewall_command = commands.add_parser("firewall", help="open or close the port alone")
    firewall_command.add_argument("action", choices=["open", "close"])
    commands.add_parser("certificate", help="TLS=acme: obtain the certificate, then serve HTTPS")
    commands.add_parser("status", help="show the settings and which site answers by IP")
    commands.add_parser("unpin", help="serve the installed version though it is not configured")
    prepare_command = commands.add_parser("prepare-app", help="load the app and run its declared commands")
    prepare_command.add_argument("phase", choices=["install", "upgrade"])
    commands.add_parser("backup", help="back the app's state, secret key and settings up, checked")
    commands.add_parser("list-backups", help="list the backups in /var/backups/flaskapp")
    for name, what in (("verify-backup", "check a backup, changing nothing"),
                       ("restore", "restore a backup onto this host")):
        commands.add_parser(name, help=what).add_argument("file", type=Path)
    commands.add_parser("first-boot", help="finish an image's install (flaskapp-first-boot.service)")
    args = parser.parse_args(argv)

    try:
        if args.command == "remove":
            # Never fails: a failed prerm would block the package's removal for good.
            try:
                nginx.disable(nginx.Paths(), say, warn)
            except (OSError, nginx.NginxError) as error:
                warn(f"could not take the site out of nginx: {error}")
            if systemd_runs_the_system():
                remove_from_firewall()
            return 0
        if args.command == "firewall" and args.action == "close":
            remove_from_firewall()
            return 0
        if args.command == "prepare-app":
            if not systemd_runs_the_system():
                first_boot.record(args.phase, say)
                return 0
            return prepare(args.phase, say, fail)
        if args.command == "first-boot":
            return finish_first_boot()
        if args.command == "unpin":
            return unpin()
        if args.command == "list-backups":
            print("\n".join(backup.listing()) or f"no backups in {backup.BACKUPS}")
            return 0
        if args.command == "verify-backup":
            backup.verify(args.file, say)
            return 0
        if args.command == "restore":
            backup.restore(args.file, lambda phase: prepare(phase, say, fail), say)
        settings = load()
        for message in settings.warnings:
            warn(message)
        if args.command == "backup":
            backup.create(settings, say)
        elif args.command in ("apply", "restore"):
            apply_firewall(settings, nginx.apply(settings, nginx.Paths(), say, warn))
            if systemd_runs_the_system():
                processes.apply(processes.formation(settings), say, warn)
        elif args.command == "certificate":
            if settings.tls != "acme":
                print(f"flaskapp: set TLS=acme (and SERVER_NAMES) in {SETTINGS} first", file=sys.stderr)
                return 1
            nginx.apply(settings, nginx.Paths(), say, warn)  # the challenges' location, served
            tls.obtain(settings, say)
            apply_firewall(settings, nginx.apply(settings, nginx.Paths(), say, warn))
        elif args.command == "firewall":
            apply_firewall(settings, nginx.serves_https(nginx.Paths()))
        elif args.command == "status":
            is_default, answers = nginx.default_role(settings, nginx.Paths())
            print(f"server names:   {' '.join(settings.server_names)}")
            print(f"default server: {settings.default_server} (requests by IP: {answers})")
            print(f"open ports:     {'yes' if settings.open_http_port else 'no'} (80, and 443 with TLS)")
            https = nginx.serves_https(nginx.Paths())
            print(f"TLS:            {settings.tls} ({'HTTPS served' if https else 'HTTP only'})")
            for line in processes.status(processes.formation(settings)):
                print(f"process:        {line}")
            print(f"last good backup: {backup.last_good()}")
    except SettingsError as error:
        print(f"flaskapp: {error}; nothing was changed", file=sys.stderr)
        return 1
    except backup.RestoreFailed as error:
        print(f"flaskapp: restore of {args.file} failed: {error}", file=sys.stderr)
        return 1
    except backup.BackupError as error:
        print(f"flaskapp: {getattr(args, 'file', 'backup')}: {error}; nothing was changed"
              if args.command != "backup" else f"flaskapp: backup failed: {error}", file=sys.stderr)
        return 1
    except (nginx.NginxError, tls.TlsError) as error:
        print(f"flaskapp: {error}", file=sys.stderr)
        return 1
    return 0
