"""The flaskapp site among the admin's own nginx sites: which one answers requests by IP,
what happens when nginx rejects something, and that nginx is never left broken."""

from __future__ import annotations

from pathlib import Path

from .host import Host, eventually, said

SITE_LINK = "/etc/nginx/sites-enabled/flaskapp"
DEFAULT_LINK = "/etc/nginx/sites-enabled/default"


def add_site(host: Host, name: str, listen: str = "80", server_name: str = "shop.example") -> None:
    """An admin's own site, enabled, answering with its name. As the default server, it
    replaces Debian's default site, as an admin would."""
    if "default_server" in listen:
        host.run("rm", "-f", DEFAULT_LINK)
    host.file(f"/etc/nginx/sites-available/{name}").write(
        f"server {{\n    listen {listen};\n    server_name {server_name};\n"
        f"    return 200 '{name}';\n}}\n")
    host.run("ln", "-s", f"../sites-available/{name}", f"/etc/nginx/sites-enabled/{name}")
    host.run("systemctl", "reload", "nginx")


def answers(host: Host, text: str, **headers: str) -> None:
    """Waits for nginx to answer `text` (a reload replaces nginx's workers after it returns)."""
    eventually(lambda: host.get("/", headers=headers).text == text, timeout=10, what=f"answers {text!r}")


def nginx_accepts(host: Host) -> bool:
    return host.run("nginx", "-t", check=False).returncode == 0


def nginx_workers(host: Host) -> set[str]:
    master = host.service("nginx").main_pid
    return set(host.file(f"/proc/{master}/task/{master}/children").content.split())


def test_flaskapp_answers_requests_by_ip_beside_another_site(nginx_host: Host, deb: Path) -> None:
    # Alphabetically first, so without default_server nginx would give it every request by IP.
    add_site(nginx_host, "aaa-shop")
    output = nginx_host.apt_install(deb).stdout
    assert "requests by IP address or an unknown host name are answered by flaskapp" in output
    answers(nginx_host, "Hello World!")
    answers(nginx_host, "aaa-shop", Host="shop.example")


def test_another_default_server_keeps_requests_by_ip_and_the_install_says_so(
    nginx_host: Host, deb: Path
) -> None:
    add_site(nginx_host, "shop", listen="80 default_server")
    nginx_host.run("mkdir", "-p", "/etc/flaskapp")
    nginx_host.file("/etc/flaskapp/site.conf").write("SERVER_NAMES=app.example\n")

    output = nginx_host.apt_install(deb).stdout

    assert "answered by /etc/nginx/sites-enabled/shop (its default_server)" in output
    answers(nginx_host, "shop")
    answers(nginx_host, "Hello World!", Host="app.example")
    assert "requests by IP: /etc/nginx/sites-enabled/shop" in nginx_host.run("flaskapp-site", "status").stdout


def test_default_server_yes_beside_another_default_is_refused_and_put_back(
    nginx_host: Host, deb: Path
) -> None:
    add_site(nginx_host, "shop", listen="80 default_server")
    nginx_host.run("mkdir", "-p", "/etc/flaskapp")
    nginx_host.file("/etc/flaskapp/site.conf").write("DEFAULT_SERVER=yes\n")

    result = nginx_host.apt_install(deb, check=False)

    assert result.returncode != 0
    assert "nginx rejects the flaskapp site" in said(result)
    assert "duplicate default server" in said(result)
    assert not nginx_host.file(SITE_LINK).exists
    assert nginx_accepts(nginx_host)
    answers(nginx_host, "shop")


def test_a_default_site_the_admin_edited_stays_enabled(nginx_host: Host, deb: Path) -> None:
    default = nginx_host.file("/etc/nginx/sites-available/default")
    default.write(default.content.replace("try_files $uri $uri/ =404;", "return 200 'mine';"))
    nginx_host.run("systemctl", "reload", "nginx")

    output = nginx_host.apt_install(deb).stdout

    assert nginx_host.file(DEFAULT_LINK).is_symlink
    assert "answered by /etc/nginx/sites-enabled/default (its default_server)" in output
    answers(nginx_host, "mine")
    # Its server_name is _, like flaskapp's by default: give flaskapp a name to be reached by.
    nginx_host.file("/etc/flaskapp/site.conf").write("SERVER_NAMES=app.example\n")
    nginx_host.run("flaskapp-site", "apply")
    answers(nginx_host, "Hello World!", Host="app.example")


def test_a_site_nginx_rejects_is_rolled_back_whole(nginx_host: Host, deb: Path) -> None:
    # An admin's upstream of the same name: nginx rejects flaskapp's site, and only it.
    nginx_host.file("/etc/nginx/conf.d/upstreams.conf").write("upstream flaskapp { server 127.0.0.1:9; }\n")
    nginx_host.run("systemctl", "reload", "nginx")

    result = nginx_host.apt_install(deb, check=False)

    assert result.returncode != 0
    assert "nginx rejects the flaskapp site" in said(result)
    assert 'duplicate upstream "flaskapp"' in said(result)
    assert not nginx_host.file(SITE_LINK).exists
    # The default site it had disabled on the way is back: a restart still serves it.
    assert nginx_host.file(DEFAULT_LINK).is_symlink
    nginx_host.run("systemctl", "restart", "nginx")
    eventually(lambda: "Welcome to nginx" in nginx_host.get("/").text, timeout=10, what="default site")


def test_an_upgrade_succeeds_while_nginx_is_broken_elsewhere(installed: Host, newer_deb: Path) -> None:
    installed.file("/etc/nginx/sites-enabled/broken").write("server { listen 80; oops }\n")

    result = installed.apt_install(newer_deb)

    assert "nginx's configuration is invalid elsewhere; flaskapp's site is unchanged" in said(result)
    assert installed.run("dpkg-query", "-W", "-f=${Status}", "flaskapp").stdout == "install ok installed"
    new_version = newer_deb.name.split("_")[1]
    assert installed.get("/healthz").json()["version"] == new_version


def test_purge_leaves_the_default_site_off_when_another_site_became_the_default(installed: Host) -> None:
    installed.run("rm", SITE_LINK)
    add_site(installed, "shop", listen="80 default_server")

    result = installed.run("apt-get", "purge", "--yes", "flaskapp")

    assert "left nginx's default site disabled" in said(result)
    assert not installed.file(DEFAULT_LINK).exists
    assert nginx_accepts(installed)
    installed.run("systemctl", "restart", "nginx")
    answers(installed, "shop")


def test_an_upgrade_with_an_old_site_link_does_not_reload_nginx(installed: Host, newer_deb: Path) -> None:
    # `ls -l` prints a year instead of a time for files older than six months.
    installed.run("touch", "-h", "--date=2024-01-01", SITE_LINK)
    before = nginx_workers(installed)
    installed.apt_install(newer_deb)
    assert nginx_workers(installed) == before
