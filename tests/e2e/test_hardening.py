"""The service's sandbox, its secrets, and admin mistakes that must not take the site down."""

from __future__ import annotations

import re

from .host import Host, eventually

SOCKET = "/run/flaskapp/gunicorn.sock"
# systemd-analyze security: 0 is fully locked down, 10 is unprotected (nginx.service: 9.6).
MAX_EXPOSURE = 1.5


def exposure(host: Host, unit: str) -> float:
    output = host.run("systemd-analyze", "security", "--no-pager", unit).stdout
    return float(re.search(rf"Overall exposure level for {re.escape(unit)}: ([\d.]+)", output).group(1))


def test_service_exposure_is_at_most_1_5(served: Host) -> None:
    assert exposure(served, "flaskapp.service") <= MAX_EXPOSURE


def commands_running(host: Host) -> list[str]:
    """The transient units of systemd-run (/usr/bin/flaskapp's) that run now."""
    listed = host.run("systemctl", "list-units", "--no-legend", "--plain", "--state=running",
                      "run-*.service").stdout
    return [line.split()[0] for line in listed.splitlines() if line.strip()]


def test_the_apps_cli_is_as_locked_down_as_the_service(served: Host) -> None:
    # A command that runs a while, not at a terminal: `flaskapp shell` reading a script.
    running = served.start("sh", "-c", "echo 'import time; time.sleep(60)' | flaskapp shell")
    try:
        eventually(lambda: commands_running(served) != [], what="the CLI's unit running")
        (unit,) = commands_running(served)
        assert abs(exposure(served, unit) - exposure(served, "flaskapp.service")) <= 0.1
        user = served.run("systemctl", "show", "--value", "--property=User", unit).stdout.strip()
        assert user == "flaskapp"
    finally:
        running.kill()
        served.run("sh", "-c", "systemctl stop 'run-*.service'", check=False)


def connect_to_socket(host: Host, user: str, group: str) -> str:
    """Connects to gunicorn's socket as `user` with that user's groups: "connected" or the error."""
    connect = (
        "import socket\n"
        "try:\n"
        f"    socket.socket(socket.AF_UNIX).connect({SOCKET!r}); print('connected')\n"
        "except OSError as error:\n"
        "    print(error.strerror)\n"
    )
    return host.run("setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups",
                    "python3", "-c", connect).stdout.strip()


def test_socket_admits_nginx_and_nobody_else(served: Host) -> None:
    assert connect_to_socket(served, "www-data", "www-data") == "connected"
    assert connect_to_socket(served, "nobody", "nogroup") == "Permission denied"
    assert connect_to_socket(served, "flaskapp", "flaskapp") == "Permission denied"


def test_nginx_hides_its_version_and_sets_security_headers(served: Host) -> None:
    headers = served.get("/").headers
    assert headers["Server"] == "nginx"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_reload_with_a_broken_config_fails_clearly_and_keeps_serving(installed: Host) -> None:
    master = installed.service("flaskapp.service").main_pid
    conf = installed.file("/etc/flaskapp/gunicorn.conf.py")
    good = conf.content
    installed.run("systemctl", "reload", "flaskapp")  # the check passes on a good config
    conf.write(good + "\nworkers = = 3\n")

    reload = installed.run("systemctl", "reload", "flaskapp", check=False)

    assert reload.returncode != 0
    status = installed.run("systemctl", "status", "--no-pager", "--full", "flaskapp", check=False).stdout
    journal = installed.run("journalctl", "--no-pager", "-u", "flaskapp").stdout
    assert "SyntaxError" in status + journal
    assert installed.service("flaskapp.service").main_pid == master
    assert installed.get("/").text == "Hello World!"

    conf.write(good)
    installed.run("systemctl", "reload", "flaskapp")


def test_bad_env_setting_fails_the_start_with_a_readable_message(installed: Host) -> None:
    env = installed.file("/etc/flaskapp/flaskapp.env")
    env.write(env.content + "GUNICORN_WORKERS=many\n")
    installed.run("systemctl", "restart", "flaskapp", check=False)
    eventually(lambda: installed.service("flaskapp.service").is_active is False, what="service stopped")
    journal = installed.run("journalctl", "--no-pager", "-u", "flaskapp").stdout
    assert "GUNICORN_WORKERS='many' in /etc/flaskapp/flaskapp.env: must be a number of workers" in journal
    assert "Traceback" not in journal

    env.write(env.content.replace("GUNICORN_WORKERS=many\n", ""))
    installed.run("systemctl", "reset-failed", "flaskapp")
    installed.run("systemctl", "restart", "flaskapp")
    assert installed.wait_until_serving().text == "Hello World!"
