"""Fixtures for end-to-end tests: freshly booted Debian hosts with the built .deb."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..conftest import REPO
from .apps import (
    add_a_heartbeat_job,
    add_a_migration,
    add_counter,
    as_blog,
    as_jobqueue,
    as_taskboard,
    break_the_factory,
)
from .builds import (
    NEWER_VERSION_SUFFIX,
    build_copy,
    build_newer_deb,
    build_release,
    hello_world_in_the_slot,
    previous_release,
    with_the_hello_world,
)
from .host import Host
from .image import deb_suite, image_root


def e2e_unavailable() -> str | None:
    """Why this machine cannot boot test hosts, or None when it can."""
    if os.geteuid() != 0:
        return "end-to-end tests need root (to boot hosts with systemd-nspawn)"
    for tool in ("systemd-nspawn", "mmdebstrap", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"end-to-end tests need {tool} (make test-deps installs it)"
    return None


def e2e_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("FLASKAPP_REQUIRE_E2E") == "1"


# The modules that take longest (README, "Test": where the time goes), run first: make test's
# two workers take a module at a time in this order (--no-loadscope-reorder: xdist would order
# them by their number of tests), and a long one started last would leave the other idle.
LONGEST_FIRST = ["test_firewall", "test_fleet", "test_supply_chain", "test_https", "test_release_upgrade",
                 "test_upgrade_pin", "test_lifecycle", "test_app_as_written", "test_own_app",
                 "test_database_app", "test_processes", "test_cloud", "test_backup", "test_trust_boundary",
                 "test_piuparts", "test_example_app", "test_apt_repo", "test_other_release",
                 "test_nginx_site", "test_zero_downtime"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent

    def start(item: pytest.Item) -> int:
        name = Path(item.fspath).stem
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=start)  # stable: the rest keep their order
    e2e_items = [item for item in items if here in Path(item.fspath).parents]
    for item in e2e_items:
        item.add_marker(pytest.mark.e2e)
    reason = e2e_unavailable()
    if reason and e2e_items:
        if e2e_required():
            raise pytest.UsageError(f"{reason}; CI must run them (CI=true)")
        skip = pytest.mark.skip(reason=reason)
        for item in e2e_items:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test shows what its hosts' systemd and journal said."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        # (Each host once: a fixture may be another's under a second name, as hosts_with_nginx's.)
        funcargs = getattr(item, "funcargs", {}).values()
        hosts = {id(value): value for value in funcargs if isinstance(value, Host)}
        for host in hosts.values():
            report.sections.append((f"host {host.name}: status and journal", host.diagnostics()))


# Installed on demand in the hosts that test them (from the image's mirror, offline): the
# firewalls, the database an app talks to, certbot, what a fleet's hosts run (sshd, the
# python3-apt that Ansible's apt module uses, HAProxy), and what a cloud image has (cloud-init).
ON_DEMAND = ["certbot", "cloud-init", "firewalld", "haproxy", "iptables", "iptables-persistent",
             "locales", "nftables", "openssh-server", "postgresql", "python3-apt", "redis-server", "restic",
             "ufw"]


@pytest.fixture(scope="session")
def image(deb: Path) -> Path:
    return image_root(deb, ON_DEMAND)


def platform_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the platform's tests build from: this tree while the hello world is in the slot;
    else a copy with the hello world back in it, made once per run (the tests check the
    platform with the hello world; a developer's app in the slot is checked by its build and
    tests/package)."""
    if hello_world_in_the_slot(REPO):
        return REPO
    return once_per_run(tmp_path_factory, "platform-tree",
                        lambda workdir: with_the_hello_world(REPO, workdir))


@pytest.fixture(scope="session")
def deb(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package under test: make test's build (--deb, tests/conftest.py's deb), or, with a
    developer's app in the slot, the same version built with the hello world."""
    if hello_world_in_the_slot(REPO):
        return deb
    return once_per_run(tmp_path_factory, "platform-deb",
                        lambda workdir: build_copy(platform_tree(tmp_path_factory), workdir))


@pytest.fixture(scope="session")
def other_deb(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build for the other supported Debian release (trixie's, on a bookworm machine):
    --other-deb, or built during the run for --other-suite (in a clean chroot of it, once,
    by whichever worker asks first, while the other goes on testing)."""
    path, suite = request.config.getoption("--other-deb"), request.config.getoption("--other-suite")
    if path is None and suite is None:
        message = "no build for the other Debian release: make test passes --other-suite"
        if e2e_required():
            pytest.fail(message)
        pytest.skip(message)
    if path is not None and not path.exists():
        pytest.fail(f"{path} does not exist: run `make deb SUITE=<the other release>`")
    if suite is None and hello_world_in_the_slot(REPO):
        return path.resolve()
    return once_per_run(tmp_path_factory, "other-deb", lambda workdir: build_copy(
        platform_tree(tmp_path_factory), workdir, suite=suite or deb_suite(path)))


@pytest.fixture(scope="session")
def other_image(other_deb: Path) -> Path:
    return image_root(other_deb, ON_DEMAND)


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]) -> Path:
    """What build(workdir) makes, made once in a run of the suite and shared by its pytest
    processes (make test runs two, pytest-xdist's workers): the first to ask builds it, and
    the others wait for it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's directory, above each worker's own
    workdir = root / f"built-{name}"
    with open(root / f"built-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = root / f"built-{name}.path"
        if record.exists():
            return Path(record.read_text())
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir()
        built = build(workdir)
        record.write_text(str(built))
        return built


def newer_build(tmp_path_factory: pytest.TempPathFactory, suffix: str,
                change: Callable[[Path], None] | None = None) -> Path:
    """This tree with `change` made and `suffix` added to its version, built once per run."""
    return once_per_run(tmp_path_factory, suffix.lstrip("+"),
                        lambda workdir: build_newer_deb(platform_tree(tmp_path_factory), workdir, suffix,
                                                        change))


@pytest.fixture(scope="session")
def newer_deb(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same package with a higher version, built from a copy of this tree: the upgrade."""
    return newer_build(tmp_path_factory, NEWER_VERSION_SUFFIX, add_a_heartbeat_job)


@pytest.fixture(scope="session")
def previous_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as last released (the commit before this version's work), built from git."""
    commit = previous_release(REPO)
    if commit is None:
        pytest.skip("no git history of the previous release here (a shallow clone?)")
    return once_per_run(tmp_path_factory, "previous", lambda workdir: build_release(REPO, commit, workdir))


# Apps built into the package, each once per run, for every module that installs it.
@pytest.fixture(scope="session")
def counting_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return newer_build(tmp_path_factory, "+counting1", add_counter)


@pytest.fixture(scope="session")
def migrating_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return newer_build(tmp_path_factory, "+counting2", add_a_migration)


@pytest.fixture(scope="session")
def broken_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return newer_build(tmp_path_factory, "+broken1", break_the_factory)


@pytest.fixture(scope="session")
def taskboard_1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return newer_build(tmp_path_factory, "+taskboard1", as_taskboard(1))


@pytest.fixture(scope="session")
def taskboard_2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return newer_build(tmp_path_factory, "+taskboard2", as_taskboard(2))


@pytest.fixture(scope="session")
def blog_1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return newer_build(tmp_path_factory, "+blog1", as_blog(1))


@pytest.fixture(scope="session")
def blog_2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return newer_build(tmp_path_factory, "+blog2", as_blog(2))


@pytest.fixture(scope="session")
def jobqueue_1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return newer_build(tmp_path_factory, "+jobqueue1", as_jobqueue(1))


@pytest.fixture(scope="session")
def jobqueue_2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return newer_build(tmp_path_factory, "+jobqueue2", as_jobqueue(2))


def layer(tmp_path_factory: pytest.TempPathFactory, name: str, base: Sequence[Path],
          setup: Callable[[Host], None]) -> list[Path]:
    """The root a host booted from `base` has after setup(host) and a poweroff, as layers
    for other hosts; made once per run, by the same steps the tests of those steps check."""
    def make(workdir: Path) -> Path:
        maker = Host(base, workdir, name=f"flaskapp-layer-{name}")
        try:
            maker.create()
            maker.boot()
            setup(maker)
            return maker.keep_as_layer()[0]
        except BaseException:
            maker.destroy()
            raise
    return [once_per_run(tmp_path_factory, f"layer-{name}", make), *base]


def install_nginx(host: Host) -> None:
    # And Debian's python3, as most servers have (test_install's hosts have neither).
    host.run("apt-get", "install", "--yes", "nginx", "python3")


@pytest.fixture(scope="session")
def nginx_image(image: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The image with nginx installed (its default site on port 80) and python3."""
    return layer(tmp_path_factory, "nginx", [image], install_nginx)


@pytest.fixture(scope="session")
def installed_image(image: Path, deb: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The image after `apt install ./flaskapp_*.deb` (the README's step, which test_install
    checks on a host of its own), serving, and a poweroff."""
    def install(host: Host) -> None:
        host.apt_install(deb)
        host.wait_until_serving()
    return layer(tmp_path_factory, "installed", [image], install)


@contextmanager
def booted_host(image: Path | Sequence[Path], workdir: Path, test_name: str,
                cpu_affinity: str | None = None) -> Iterator[Host]:
    name = re.sub(r"[^a-z0-9-]+", "-", test_name.lower())[:40].strip("-")
    host = Host(image, workdir, name=f"flaskapp-{name}", cpu_affinity=cpu_affinity)
    try:
        host.create()
        host.boot()
        yield host
    finally:
        host.destroy()


@pytest.fixture
def host(image: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Host]:
    """A freshly booted host, without nginx or flaskapp, like a new minimal server."""
    with booted_host(image, tmp_path / "host", request.node.name) as fresh:
        yield fresh


@pytest.fixture
def nginx_host(nginx_image: list[Path], tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Host]:
    """A server already running nginx (its default site on port 80), with python3."""
    with booted_host(nginx_image, tmp_path / "host", request.node.name) as fresh:
        yield fresh


def hosts_with_nginx():
    """A module's `host` fixture, for a module whose hosts are servers that an app is installed
    on to test what the app then does: nginx_host, a server with nginx and python3 already, as
    most are, which saves each host apt's 8 s of unpacking them (a bare server's install is
    test_install's, test_lifecycle's and the firewall tests' to check). In the module:
    `host = hosts_with_nginx()`."""
    @pytest.fixture
    def host(nginx_host: Host) -> Host:
        return nginx_host
    return host


@pytest.fixture
def installed(installed_image: list[Path], tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Host]:
    """A host on which `apt install ./flaskapp_*.deb` has run, booted again, serving."""
    with booted_host(installed_image, tmp_path / "host", request.node.name) as fresh:
        fresh.wait_until_serving()
        yield fresh


@pytest.fixture(scope="module")
def served(installed_image: list[Path], tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[Host]:
    """Like `installed`, shared by a module's tests that only look and do not change it."""
    workdir = tmp_path_factory.mktemp("served")
    with booted_host(installed_image, workdir, request.module.__name__.rsplit(".", 1)[-1]) as fresh:
        fresh.wait_until_serving()
        yield fresh
