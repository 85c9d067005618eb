"""What the venv is made of: `make lock`'s refusal of a conflict, and `make audit` against an
OSV service (a stand-in on loopback: this machine reaches no vulnerability service)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ..conftest import REPO
from .test_build import copy_of_the_tree, suite

UV = Path(sys.executable).parent / "uv"


@pytest.mark.rebuild
def test_a_requirement_that_conflicts_with_a_platform_pin_fails_the_lock_naming_both_and_the_file(
    tmp_path: Path,
) -> None:
    source = copy_of_the_tree(tmp_path / "conflict")
    (source / "src/requirements.txt").write_text("# the app's, as its authors pinned them\nblinker==1.7.0\n")
    locks = {path.name: path.read_bytes() for path in (source / "locks").iterdir()}

    result = subprocess.run(["make", "lock", f"UV={UV}"], cwd=source, capture_output=True, text=True)

    assert result.returncode != 0
    said = result.stderr
    assert "the requirements cannot be locked for" in said, said
    assert "blinker==1.7.0  (src/requirements.txt)" in said, said  # the app's constraint, and its file
    assert "flask==3.1.3  (requirements.in)" in said, said  # the platform's pin that needs blinker>=1.9
    assert "blinker>=1.9" in said, said  # uv's own explanation: the other constraint
    assert "Change the app's requirement in its file" in said
    # Nothing half-done: the locks are as they were.
    assert {path.name: path.read_bytes() for path in (source / "locks").iterdir()} == locks


class OSV(BaseHTTPRequestHandler):
    """OSV's query API (POST /v1/query), answering from `advisories`: {(name, version): [vuln]}."""
    advisories: dict[tuple[str, str], list[dict]] = {}
    asked: list[tuple[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = (query["package"]["name"], query["version"])
        self.asked.append(key)
        vulns = self.advisories.get(key, [])
        body = json.dumps({"vulns": vulns} if vulns else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def osv() -> Iterator[type[OSV]]:
    handler = type("TestOSV", (OSV,), {"advisories": {}, "asked": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    yield handler
    server.shutdown()


def audit(url: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "audit", f"OSV_URL={url}"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


ADVISORY = {"id": "GHSA-test-f1ask-0001", "summary": "A test advisory for the platform's gunicorn",
            "affected": [{"package": {"name": "gunicorn", "ecosystem": "PyPI"}, "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99.0"}]}]}]}


def test_make_audit_fails_naming_an_advisory_for_a_locked_version_and_passes_without(osv: type[OSV]) -> None:
    clean = audit(osv.url)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    # Every locked package was asked about, exactly as locked.
    assert ("gunicorn", "27.0.1") in osv.asked and ("blinker", "1.9.0") in osv.asked

    osv.advisories[("gunicorn", "27.0.1")] = [ADVISORY]
    found = audit(osv.url)

    assert found.returncode != 0
    said = found.stdout + found.stderr
    assert "gunicorn" in said and "27.0.1" in said and "GHSA-test-f1ask-0001" in said, said
    assert "99.0" in said  # the version that fixes it


def test_make_audit_fails_when_the_service_cannot_be_reached() -> None:
    with socket.socket() as closed:  # a port on loopback that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = audit(f"http://127.0.0.1:{port}/v1/query")
    assert result.returncode != 0
    said = result.stdout + result.stderr
    assert "No known vulnerabilities found" not in said
    assert f"locks/{suite()}.txt FAILED" in said, said
    assert f"127.0.0.1:{port}/v1/query could not answer" in said, said
