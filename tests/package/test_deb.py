"""The built .deb, inspected without installing it: fields, files, scripts, site, lintian.

(The units are verified where they are installed: tests/e2e/test_install.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from flaskapp_site import nginx, tls
from flaskapp_site.settings import Settings

from ..conftest import REPO, load_script

build_app = load_script(REPO / "packaging/build-app")
wheels = load_script(REPO / "packaging/wheels")

VENV = "opt/venvs/flaskapp"


def deb_field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "--field", str(deb), name], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def unpacked(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["dpkg-deb", "--raw-extract", str(deb), str(root)], check=True)
    return root


def site_packages(unpacked: Path) -> Path:
    (path,) = (unpacked / VENV / "lib").glob("python3.*/site-packages")
    return path


def test_the_venv_runs_and_depends_on_its_own_interpreter(deb: Path, unpacked: Path) -> None:
    interpreter = site_packages(unpacked).parent.name  # python3.11
    depends = [entry.strip() for entry in deb_field(deb, "Depends").split(",")]
    assert interpreter in depends
    # bin/python -> python3.11 -> /usr/bin/python3.11: not /usr/bin/python3, which a release
    # upgrade makes a newer Python.
    assert os.readlink(unpacked / VENV / "bin/python") == interpreter
    assert os.readlink(unpacked / VENV / "bin" / interpreter) == f"/usr/bin/{interpreter}"
    config = (unpacked / VENV / "pyvenv.cfg").read_text()
    assert f"executable = /usr/bin/{interpreter}" in config


def test_the_version_names_the_release_it_was_built_for(deb: Path, unpacked: Path) -> None:
    version = deb_field(deb, "Version")
    release = subprocess.run([str(REPO / "packaging/release"), "suffix"], check=True,
                             capture_output=True, text=True).stdout.strip()
    assert version.endswith(release) and release.startswith("~deb")
    assert deb.name == f"flaskapp_{version}_{deb_field(deb, 'Architecture')}.deb"
    # What /healthz reports.
    assert (site_packages(unpacked) / "flaskapp_platform/DEB_VERSION").read_text().strip() == version


def test_no_file_records_where_it_was_built(unpacked: Path) -> None:
    build_paths = subprocess.run(["grep", "-rlI", "build/source", str(unpacked / VENV)],
                                 capture_output=True, text=True).stdout
    assert build_paths == ""


def test_depends_on_nginx_and_what_the_scripts_call(deb: Path) -> None:
    depends = [alternative.strip() for alternative in deb_field(deb, "Depends").split(",")]
    assert any(entry.startswith("nginx |") for entry in depends)
    assert "adduser" in depends  # postinst: adduser; postrm: deluser
    assert "systemd" in depends


def test_conffiles_are_the_admin_editable_files(unpacked: Path) -> None:
    conffiles = (unpacked / "DEBIAN/conffiles").read_text().split()
    assert sorted(conffiles) == [
        "/etc/flaskapp/flaskapp.env",
        "/etc/flaskapp/gunicorn.conf.py",
        "/etc/nginx/sites-available/flaskapp",
        "/etc/ufw/applications.d/flaskapp",
    ]


normalized = wheels.normalized  # PEP 503: Flask_Migrate is flask-migrate


def venv_distributions(unpacked: Path) -> set[tuple[str, str]]:
    infos = site_packages(unpacked).glob("*.dist-info")
    named = (info.name.removesuffix(".dist-info").split("-", 1) for info in infos)
    return {(normalized(name), version) for name, version in named}


def the_lock(deb: Path) -> Path:
    """locks/<release>.txt of the release the package was built for."""
    suite = subprocess.run([str(REPO / "packaging/release"), "suite", deb_field(deb, "Version")],
                           check=True, capture_output=True, text=True).stdout.strip()
    return REPO / "locks" / f"{suite}.txt"


def test_venv_holds_the_app_and_its_locked_dependencies(deb: Path, unpacked: Path) -> None:
    installed = venv_distributions(unpacked)
    locked = {(pin.name, pin.version) for pin in wheels.pins(the_lock(deb))}
    assert locked <= installed
    if not build_app.has_project(REPO / "src"):  # then its tree is all of it, in src/
        assert installed == locked


def test_the_sbom_lists_every_distribution_of_the_venv_with_its_purl_and_the_hash_it_was_locked_with(
    deb: Path, unpacked: Path
) -> None:
    bom = json.loads((unpacked / "usr/share/doc/flaskapp/sbom.cdx.json").read_text())
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    components = {(normalized(c["name"]), c["version"]): c for c in bom["components"]}
    assert set(components) == venv_distributions(unpacked)
    assert not {"pip", "setuptools"} & {name for name, _ in components}
    locked = {(pin.name, pin.version): pin.hashes for pin in wheels.pins(the_lock(deb))}
    for key, component in components.items():
        assert component["purl"] == f"pkg:pypi/{key[0]}@{key[1]}"
        if key in locked:  # (an app's own project, built from its tree, is no locked file)
            (digest,) = component["hashes"]
            assert digest["alg"] == "SHA-256" and digest["content"] in locked[key]


def test_the_app_is_its_tree_in_src_on_sys_path_with_its_declarations(unpacked: Path) -> None:
    venv = unpacked / VENV
    shipped = {path.relative_to(venv / "src") for path in (venv / "src").rglob("*.py")}
    assert shipped == {path.relative_to(REPO / "src") for path in (REPO / "src").rglob("*.py")
                       if not {"__pycache__", "instance", "venv", ".venv", ".git"} & set(path.parts)}
    assert (site_packages(unpacked) / "flaskapp-src.pth").read_text() == build_app.PTH
    declared = json.loads((site_packages(unpacked) / "flaskapp_platform/declarations.json").read_text())
    expected = build_app.declarations()
    del expected["build"], expected["requirements"]
    assert declared == expected


def test_venv_ships_no_build_tools_and_no_bytecode(unpacked: Path) -> None:
    venv = unpacked / VENV
    for tool in ("pip", "setuptools", "wheel"):
        assert not list(site_packages(unpacked).glob(f"{tool}*")), tool
        assert not (venv / "bin" / tool).exists()
    assert not list(venv.rglob("*.pyc"))


def test_scripts_use_the_venv_interpreter(unpacked: Path) -> None:
    first_line = (unpacked / VENV / "bin/gunicorn").read_text().splitlines()[0]
    assert first_line == f"#!/{VENV}/bin/python"


def test_maintainer_scripts_are_valid_posix_shell(unpacked: Path) -> None:
    for script in ("preinst", "postinst", "prerm", "postrm"):
        path = unpacked / "DEBIAN" / script
        assert path.read_text().startswith("#!/bin/sh\nset -e\n"), script
        subprocess.run(["sh", "-n", str(path)], check=True)


def self_signed(tmp_path: Path) -> tls.Certificate:
    certificate = tls.Certificate(tmp_path / "cert.pem", tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", "/CN=example.org", "-days", "2", "-keyout", str(certificate.key),
                    "-out", str(certificate.chain)], check=True, capture_output=True)
    return certificate


@pytest.mark.parametrize("settings", [
    Settings(), Settings(server_names=["example.org", "*.example.org"], default_server="no"),
    Settings(server_names=["example.org"], tls="acme"),
    Settings(server_names=["example.org"], tls="own", hsts=True),
], ids=["defaults", "names", "acme-before-its-certificate", "own-certificate"])
def test_nginx_site_passes_nginx_t(unpacked: Path, tmp_path: Path, settings: Settings) -> None:
    # A prefix and main config of its own: the site is checked without touching /etc/nginx,
    # with the files that flaskapp-site would write for these settings and this nginx.
    certificate = self_signed(tmp_path) if settings.tls == "own" else None
    version = tls.nginx_version()
    https = tls.render_listen_https(True, version) if certificate else ""
    written = {
        "listen.conf": nginx.render_listen(settings, settings.default_server != "no", https),
        "tls.conf": tls.render_tls(settings, certificate, version),
        "static.conf": nginx.render_static("/static", tmp_path),
    }
    text = (unpacked / "etc/nginx/sites-available/flaskapp").read_text()
    for name, content in written.items():
        (tmp_path / name).write_text(content)
        assert f"include {nginx.STATE / name};" in text
        text = text.replace(str(nginx.STATE / name), str(tmp_path / name))
    site = tmp_path / "site"
    site.write_text(text)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{ include {site}; }}\n")
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(conf)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_units_document_themselves_with_files_the_package_ships(unpacked: Path) -> None:
    for unit in (unpacked / "lib/systemd/system").glob("*"):
        for line in unit.read_text().splitlines():
            if line.startswith("Documentation=file://"):
                assert (unpacked / line.removeprefix("Documentation=file:///")).is_file(), unit.name


def test_lintian_finds_no_errors_or_warnings(deb: Path) -> None:
    result = subprocess.run(
        ["lintian", "--fail-on", "error,warning", str(deb)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
