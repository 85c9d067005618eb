"""The package's life on a server: restart, reload, upgrade, remove, reinstall, purge, reboot."""

from __future__ import annotations

from pathlib import Path

from .host import Host, eventually, said
from .test_firewall import block_with_nftables, port_80

SITE_LINK = "/etc/nginx/sites-enabled/flaskapp"


def nginx_is_healthy(host: Host) -> bool:
    return host.run("nginx", "-t", check=False).returncode == 0 and host.service("nginx").is_active


def workers(host: Host) -> set[str]:
    master = host.service("flaskapp.service").main_pid
    return set(host.file(f"/proc/{master}/task/{master}/children").content.split())


def test_restart_keeps_serving(installed: Host) -> None:
    before = installed.service("flaskapp.service").main_pid
    installed.run("systemctl", "restart", "flaskapp")
    assert installed.get("/").text == "Hello World!"
    assert installed.service("flaskapp.service").main_pid != before


def test_reload_rereads_the_config_and_keeps_serving(installed: Host) -> None:
    master = installed.service("flaskapp.service").main_pid
    conf = installed.file("/etc/flaskapp/gunicorn.conf.py")
    before = workers(installed)
    conf.write(conf.content + "\nworkers = 2\n")
    installed.run("systemctl", "reload", "flaskapp")
    # reload returns once gunicorn has replaced every worker under the new config.
    after = workers(installed)
    assert len(after) == 2
    assert not after & before
    assert installed.get("/").text == "Hello World!"
    assert installed.service("flaskapp.service").main_pid == master


def test_upgrade_serves_the_new_version_and_keeps_admin_edits(
    installed: Host, newer_deb: Path
) -> None:
    env = installed.file("/etc/flaskapp/flaskapp.env")
    env.write(env.content + "GUNICORN_WORKERS=2\n")
    secret = installed.file("/etc/flaskapp/secret_key").content
    installed.run("systemctl", "restart", "flaskapp")

    installed.apt_install(newer_deb)

    installed.wait_until_serving()
    new_version = newer_deb.name.split("_")[1]
    assert installed.get("/healthz").json()["version"] == new_version
    assert "GUNICORN_WORKERS=2" in env.content
    assert len(workers(installed)) == 2
    assert installed.file("/etc/flaskapp/secret_key").content == secret


def test_an_upgrade_stops_at_a_gunicorn_setting_the_admin_broke_and_the_old_version_serves(
    installed: Host, deb: Path, newer_deb: Path
) -> None:
    conf = installed.file("/etc/flaskapp/gunicorn.conf.py")
    edited = conf.content
    conf.write(edited + "\nworkers = 'many'\n")

    result = installed.apt_install(newer_deb, check=False)

    assert result.returncode != 0
    assert "Invalid value for workers: many" in said(result)
    assert "the app cannot be loaded" in said(result)
    assert installed.get("/healthz").json()["version"] == deb.name.split("_")[1]
    conf.write(edited)
    installed.run("dpkg", "--configure", "-a")
    installed.wait_until_serving()
    assert installed.get("/healthz").json()["version"] == newer_deb.name.split("_")[1]


def test_upgrade_leaves_a_site_the_admin_disabled_disabled(installed: Host, newer_deb: Path) -> None:
    installed.run("rm", SITE_LINK)
    installed.run("systemctl", "reload", "nginx")
    installed.apt_install(newer_deb)
    assert not installed.file(SITE_LINK).exists
    assert nginx_is_healthy(installed)


def test_remove_disables_the_site_keeps_config_and_nginx_healthy(installed: Host, deb: Path) -> None:
    installed.run("apt-get", "remove", "--yes", "flaskapp")
    assert not installed.file(SITE_LINK).exists
    assert nginx_is_healthy(installed)
    assert installed.file("/etc/flaskapp/gunicorn.conf.py").exists
    assert installed.file("/etc/nginx/sites-available/flaskapp").exists
    # Nothing of the venv is left, not even the bytecode that postinst compiled.
    assert not installed.file("/opt/venvs/flaskapp").exists
    assert not installed.service("flaskapp.socket").is_active

    installed.apt_install(deb)
    assert installed.wait_until_serving().text == "Hello World!"
    assert installed.file(SITE_LINK).is_symlink


def test_purge_leaves_nothing_behind_and_gives_back_the_default_site(installed: Host) -> None:
    installed.run("apt-get", "purge", "--yes", "flaskapp")
    for path in ("/opt/venvs/flaskapp", "/etc/flaskapp", "/var/lib/flaskapp", "/run/flaskapp",
                 SITE_LINK, "/etc/nginx/sites-available/flaskapp"):
        assert not installed.file(path).exists, path
    assert installed.run("getent", "passwd", "flaskapp", check=False).returncode == 2
    assert installed.run("getent", "group", "flaskapp", check=False).returncode == 2
    leftovers = installed.run(
        "find", "/etc", "/opt", "/run", "/var", "/usr", "/lib", "-xdev", "-name", "*flaskapp*",
        check=False,
    ).stdout
    assert leftovers == ""
    assert installed.file("/opt").is_directory  # the FHS's, not flaskapp's to take away
    assert installed.file("/etc/nginx/sites-enabled/default").is_symlink
    assert nginx_is_healthy(installed)
    eventually(lambda: "Welcome to nginx" in installed.get("/").text, what="default site served")


def test_reboot_serves_with_no_manual_step(installed: Host) -> None:
    installed.reboot()
    assert installed.wait_until_serving().text == "Hello World!"
    assert installed.service("flaskapp.service").is_active


def test_install_onto_an_nginx_broken_elsewhere_changes_nothing_and_can_be_finished(
    host: Host, deb: Path
) -> None:
    # A server whose nginx serves, but whose configuration was since broken by another site.
    host.run("apt-get", "install", "--yes", "nginx")
    host.file("/etc/nginx/sites-enabled/broken").write("server { listen 80; oops }\n")

    result = host.apt_install(deb, check=False)

    assert result.returncode != 0
    assert "nginx's configuration is invalid" in result.stdout + result.stderr
    assert not host.file(SITE_LINK).exists
    assert host.service("nginx").is_active
    assert "Welcome to nginx" in host.get("/").text  # the configuration it served before

    host.run("rm", "/etc/nginx/sites-enabled/broken")
    host.run("dpkg", "--configure", "-a")
    assert host.wait_until_serving().text == "Hello World!"


def test_upgrade_from_the_previous_release_keeps_serving_and_moves_the_rule_after_the_admins(
    nginx_host: Host, previous_deb: Path, deb: Path
) -> None:
    block_with_nftables(nginx_host)
    nginx_host.apt_install(previous_deb)
    # From the host itself: this machine is the client the admin blocks (0.1 let it in anyway).
    eventually(lambda: nginx_host.run("curl", "--silent", "http://localhost/").stdout == "Hello World!",
               what="the previous release serving")

    nginx_host.apt_install(deb)

    assert nginx_host.run("curl", "--silent", "http://localhost/").stdout == "Hello World!"
    # The client the admin blocks is blocked, whatever the previous release did.
    assert port_80(nginx_host) == "filtered"
    chain = nginx_host.run("nft", "list", "chain", "inet", "filter", "input").stdout
    assert chain.count('comment "flaskapp"') == 1
    assert chain.index(f"ip saddr {nginx_host.link.local_address} drop") < chain.index('comment "flaskapp"')
    assert nginx_host.file("/etc/flaskapp/site.conf").is_file
