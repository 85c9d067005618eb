"""An app of one's own in the slot: its instance folder is the service's writable state,
and an app that cannot be loaded fails the install instead of the first visitor."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .acme import issue, make_ca
from .apps import STATE, STYLE
from .conftest import hosts_with_nginx
from .host import Host, eventually, said

host = hosts_with_nginx()  # servers with nginx and python3 already (tests/e2e/conftest.py)


def test_the_apps_instance_folder_is_writable_state_kept_until_purge(host: Host, counting_deb: Path) -> None:
    output = host.apt_install(counting_deb).stdout
    assert "running the app's install command: flaskapp init-counter" in output
    host.wait_until_serving()
    assert [host.get("/visits").text for _ in range(2)] == ["101", "102"]
    counter = host.file(f"{STATE}/flaskapp-instance/visits")
    assert (counter.user, counter.content) == ("flaskapp", "102")
    state = host.file(STATE)
    assert (state.user, state.group, state.mode) == ("flaskapp", "flaskapp", 0o750)
    # The package's own bookkeeping stays root's.
    assert host.file("/var/lib/flaskapp/nginx").user == "root"

    host.run("systemctl", "restart", "flaskapp")
    assert host.get("/visits").text == "103"
    assert not host.file("/opt/venvs/.flaskapp-running").exists
    host.run("apt-get", "remove", "--yes", "flaskapp")
    assert counter.content == "103"
    host.run("apt-get", "purge", "--yes", "flaskapp")
    assert not host.file("/var/lib/flaskapp").exists


def test_static_files_are_served_by_nginx_alone_and_revalidated(host: Host, counting_deb: Path) -> None:
    host.apt_install(counting_deb)
    # gunicorn is not there to see the request: nginx serves it straight from the venv.
    host.run("systemctl", "stop", "flaskapp.socket", "flaskapp.service")
    response = host.get("/static/app.css")
    assert response.status_code == 200 and response.text == STYLE
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # the site's headers too
    again = host.get("/static/app.css", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    # The site names no Python version: it outlives a distribution upgrade.
    assert "python3" not in host.file("/var/lib/flaskapp/nginx/static.conf").content



def test_the_app_sees_a_named_host_and_the_clients_own_address_whatever_the_client_claims(
        host: Host, counting_deb: Path, tmp_path: Path) -> None:
    host.apt_install(counting_deb)
    settings = host.file("/etc/flaskapp/site.conf")
    settings.write(settings.content + "SERVER_NAMES=app.example.org www.example.org\n")
    host.run("flaskapp-site", "apply")
    client = host.link.local_address

    def seen(**headers: str) -> dict:
        return host.get("/request", headers=headers).json()
    # nginx's reload returns once signalled: its old workers take a last few connections.
    eventually(lambda: seen(Host="evil.example")["host"] == "app.example.org", timeout=10,
               what="nginx reloaded with SERVER_NAMES")
    # Password-reset link poisoning: a made-up Host, or none but the IP address, reaches the
    # app as the first server name; a client's X-Forwarded-For is not taken for its address.
    for headers in ({"Host": "evil.example", "X-Forwarded-For": "6.6.6.6"}, {}):
        assert seen(**headers) == {"host": "app.example.org", "remote_addr": client,
                                   "url": "http://app.example.org/request"}, headers
    assert host.get("/request", headers={"Host": "www.example.org"}).json()["host"] == "www.example.org"
    # Another local service that can reach the socket (as www-data, as php-fpm's pools run) is
    # not believed: it lacks nginx's key.
    forged = host.run("runuser", "-u", "www-data", "--", "curl", "--silent", "--unix-socket",
                      "/run/flaskapp/gunicorn.sock", "--header", "X-Forwarded-For: 6.6.6.6",
                      "--header", "X-Forwarded-Proto: https", "http://app.example.org/request")
    assert json.loads(forged.stdout) == {"host": "app.example.org", "remote_addr": "",
                                         "url": "http://app.example.org/request"}
    # By IP, for a balancer's health check, as before.
    assert host.get("/healthz").json()["status"] == "ok"
    # Over plain HTTP the session cookie is as the app sets it.
    assert "Secure" not in host.get("/request").headers["Set-Cookie"]

    # Behind a balancer the admin names, its X-Forwarded-For says who the client is; nginx
    # logs that address too.
    settings.write(settings.content + f"TRUSTED_PROXIES={client}\n")
    host.run("flaskapp-site", "apply")
    eventually(lambda: seen(**{"X-Forwarded-For": "198.51.100.9"})["remote_addr"] == "198.51.100.9",
               timeout=10, what="nginx reloaded with TRUSTED_PROXIES")
    assert host.get("/request", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}).json()[
        "remote_addr"] == "198.51.100.7"
    assert "198.51.100.7 - -" in host.file("/var/log/nginx/access.log").content

    # With TLS, the session cookie is Secure: it never goes back over plain HTTP.
    ca = make_ca(tmp_path, "corporate-ca")
    key, cert = issue(tmp_path, ca, "app.example.org", "DNS:app.example.org")
    for path in (key, cert):
        host.file(f"/etc/ssl/{path.name}").write(path.read_text())
    settings.write(settings.content + f"TLS=own\nTLS_CERTIFICATE=/etc/ssl/{cert.name}\n"
                   f"TLS_KEY=/etc/ssl/{key.name}\n")
    host.run("flaskapp-site", "apply")
    over_https = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "10", "--retry", "5", "--retry-connrefused",
         "--include", "--cacert", str(ca[1]),
         "--resolve", f"app.example.org:443:{host.address}", "https://app.example.org/request"],
        capture_output=True, text=True, check=True).stdout
    cookie = next(line for line in over_https.splitlines() if line.lower().startswith("set-cookie:"))
    assert "; Secure" in cookie, cookie
    assert '"url":"https://app.example.org/request"' in over_https.replace(" ", "")


def test_the_apps_cli_runs_as_the_service(host: Host, counting_deb: Path) -> None:
    host.apt_install(counting_deb)
    assert "counter set to 100" in host.run("flaskapp", "init-counter").stdout
    counter = host.file(f"{STATE}/flaskapp-instance/visits")
    assert counter.user == "flaskapp"
    assert host.get("/visits").text == "101"  # what the CLI wrote, the service reads and writes
    assert "/visits" in host.run("flaskapp", "routes").stdout

    refused = host.run("runuser", "-u", "nobody", "--", "flaskapp", "routes", check=False)
    assert refused.returncode == 1
    assert "run it as root" in refused.stderr

    # The service's sandbox is the CLI's: no network, until a drop-in gives the service some.
    no_network = host.run("flaskapp", "net-check", check=False)
    assert no_network.returncode == 1 and "no network" in said(no_network)
    host.run("mkdir", "-p", "/etc/systemd/system/flaskapp.service.d")
    host.file("/etc/systemd/system/flaskapp.service.d/network.conf").write(
        "[Service]\nPrivateNetwork=no\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n")
    host.run("systemctl", "daemon-reload")
    assert host.run("flaskapp", "net-check").stdout.strip() == "network: yes"


def test_an_app_that_cannot_be_loaded_fails_the_install_with_its_traceback(
    host: Host, broken_deb: Path
) -> None:
    result = host.apt_install(broken_deb, check=False)
    assert result.returncode != 0
    assert "RuntimeError: no database configured" in said(result)
    assert "the app cannot be loaded" in said(result)
    assert not host.service("flaskapp.service").is_active


def test_an_upgrade_to_an_app_that_cannot_be_loaded_keeps_the_old_version_serving(
    installed: Host, deb: Path, broken_deb: Path
) -> None:
    result = installed.apt_install(broken_deb, check=False)
    assert result.returncode != 0
    assert "RuntimeError: no database configured" in said(result)
    assert installed.get("/").text == "Hello World!"
    assert installed.get("/healthz").json()["version"] == deb.name.split("_")[1]
