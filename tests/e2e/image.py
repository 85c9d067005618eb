"""The root file system of the test hosts: a minimal Debian of the release the .deb was built
for (bookworm for ~deb12, trixie for ~deb13), made with mmdebstrap.

It has systemd as init but no nginx and no python3, like a fresh minimal server. The
.deb's dependencies are downloaded into its apt cache (not installed), and its apt source is a
local mirror of that cache (MIRROR), as on a server with a mirror of its own: so that
`apt install ./flaskapp_*.deb` inside a host resolves them with no network, exactly as apt
would on a server. (With Debian's whole lists, each apt-get in a host spent 1.5 s of CPU
resolving among 60,000 packages; with the mirror's few hundred, 0.1 s.) The image is built once
per set of inputs and kept in a cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

RELEASE = Path(__file__).resolve().parents[2] / "packaging/release"
# What a minimal booted server has: systemd as PID 1, a system bus, ip/ss, curl, and tzdata
# (priority required: installed later, its postinst cannot replace the /etc/localtime that
# systemd-nspawn binds in).
BASE_PACKAGES = ["systemd-sysv", "dbus", "iproute2", "curl", "ca-certificates", "tzdata"]
CACHE_DIR = Path(os.environ.get("FLASKAPP_TEST_CACHE", "/var/cache/flaskapp-tests"))
# The hosts' Debian mirror: a flat archive of the apt cache's packages (hard links).
MIRROR = "/srv/debian"


def deb_depends(deb: Path) -> str:
    return subprocess.run(
        ["dpkg-deb", "--field", str(deb), "Depends"], check=True, capture_output=True, text=True
    ).stdout.strip()


def download_hook(packages: str) -> str:
    # Recommends too: apt installs them in the host, as on any server.
    return (f'--customize-hook=chroot "$1" apt-get install --download-only --yes '
            f'-o APT::Install-Recommends=true {packages}')


def deb_suite(deb: Path) -> str:
    version = subprocess.run(["dpkg-deb", "--field", str(deb), "Version"],
                             check=True, capture_output=True, text=True).stdout.strip()
    return subprocess.run([str(RELEASE), "suite", version], check=True, capture_output=True,
                          text=True).stdout.strip()


def build_command(deb: Path, extra_downloads: list[str], tarball: Path) -> list[str]:
    return [
        "mmdebstrap",
        "--variant=apt",
        "--include=" + ",".join(BASE_PACKAGES),
        # Keep the downloaded .debs: the hosts install from them offline (MIRROR).
        "--skip=cleanup/apt",
        f"--customize-hook=copy-in {deb} /tmp",
        f'--customize-hook=mv "$1/tmp/{deb.name}" "$1/tmp/flaskapp.deb"',
        download_hook("/tmp/flaskapp.deb"),
        # One at a time: some of them exclude each other (ufw and iptables-persistent).
        *(download_hook(package) for package in extra_downloads),
        '--customize-hook=rm "$1/tmp/flaskapp.deb"',
        # And every package installed: the cache is then a complete archive of what the image
        # runs, which stands in for Debian's mirror when a host is upgraded to this release.
        '--customize-hook=chroot "$1" sh -c \'apt-get install --download-only --reinstall --yes '
        '$(dpkg-query --show --showformat "\\${Package}\\n")\'',
        # The mirror, then the hosts' only apt source (what the packages were downloaded from
        # is out of their reach anyway).
        f'--customize-hook=mkdir "$1{MIRROR}" && ln "$1"/var/cache/apt/archives/*.deb "$1{MIRROR}/"'
        f' && cd "$1{MIRROR}" && dpkg-scanpackages --multiversion . > Packages',
        '--customize-hook=rm -f "$1"/etc/apt/sources.list.d/*.list "$1"/etc/apt/sources.list.d/*.sources',
        f"--customize-hook=echo 'deb [trusted=yes] file:{MIRROR} ./' > \"$1/etc/apt/sources.list\"",
        '--customize-hook=rm -rf "$1"/var/lib/apt/lists/*_*',
        '--customize-hook=chroot "$1" apt-get update',
        # What debian-installer writes on every server, and mmdebstrap does not.
        "--customize-hook=printf '127.0.0.1\\tlocalhost\\n::1\\tlocalhost ip6-localhost ip6-loopback\\n'"
        ' > "$1/etc/hosts"',
        # Nothing may wait for a terminal: the hosts boot with no console.
        '--customize-hook=systemctl --root="$1" mask console-getty.service',
        deb_suite(deb),
        str(tarball),
    ]


def image_root(deb: Path, extra_downloads: list[str] = ()) -> Path:
    """The extracted root of an image whose apt cache holds what `deb` needs.

    Keyed on everything that decides its content, so a rebuilt .deb with the same
    dependencies reuses it. Hosts mount it read-only as the lower layer of an overlay.
    """
    extra = sorted(extra_downloads)
    key_source = "\n".join([deb_suite(deb), *BASE_PACKAGES, deb_depends(deb), *extra, "v5"])
    key = hashlib.sha256(key_source.encode()).hexdigest()[:16]
    root = CACHE_DIR / f"image-{key}"
    complete = CACHE_DIR / f"image-{key}.complete"
    if complete.exists():
        return root
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Two pytest processes (make test's workers) may want the same image: one builds it.
    with open(CACHE_DIR / f"image-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not complete.exists():
            build(deb, extra, root)
            complete.touch()
    return root


def build(deb: Path, extra: list[str], root: Path) -> None:
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as scratch:
        tarball = Path(scratch, "image.tar")
        subprocess.run(build_command(deb, extra, tarball), check=True, stdin=subprocess.DEVNULL)
        staging = Path(scratch, "root")
        staging.mkdir()
        subprocess.run(["tar", "-C", str(staging), "-xf", str(tarball)], check=True)
        shutil.rmtree(root, ignore_errors=True)
        staging.rename(root)


def archive_from(image: Path, dest: Path) -> None:
    """Makes dest a flat apt archive of every package in the image's apt cache: a stand-in
    for Debian's mirror (`deb [trusted=yes] URL ./`), for hosts that must run apt-get update."""
    dest.mkdir()
    for deb in (image / "var/cache/apt/archives").glob("*.deb"):
        (dest / deb.name).symlink_to(deb)
    packages = subprocess.run(["dpkg-scanpackages", "--multiversion", "."], cwd=dest, check=True,
                              capture_output=True, text=True).stdout
    (dest / "Packages").write_text(packages)
