"""Behind nginx's HTTPS (which sends `X-Forwarded-Proto: https` to the socket, see
packaging/nginx/flaskapp), the app sees the request's scheme and builds https:// URLs: a real
gunicorn with the packaged gunicorn.conf.py on a unix socket, as under flaskapp.socket.
(gunicorn trusts the header from a unix-socket peer whatever forwarded_allow_ips says; the
config must not undo that, e.g. by emptying secure_scheme_headers.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import REPO

URL_BUILDER = '''from flask import Flask, url_for

app = Flask(__name__)


@app.get("/here")
def here():
    return url_for("here", _external=True)
'''


@pytest.fixture
def gunicorn_socket(tmp_path: Path) -> Iterator[Path]:
    """gunicorn with the packaged config and an app that answers with the URL it builds,
    on a unix socket as under flaskapp.socket."""
    (tmp_path / "url_builder.py").write_text(URL_BUILDER)
    sock = tmp_path / "gunicorn.sock"
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "--config", str(REPO / "packaging/config/gunicorn.conf.py"),
         "--workers=1", f"--bind=unix:{sock}", "--worker-tmp-dir", str(tmp_path), "url_builder:app"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        # Listening, not only bound: the socket's file exists a moment before it accepts.
        while not accepts(sock):
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "gunicorn did not listen within 20 s"
            time.sleep(0.1)
        yield sock
    finally:
        process.terminate()
        process.wait(timeout=30)


def accepts(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as client:
        try:
            client.connect(str(sock))
        except (FileNotFoundError, ConnectionRefusedError):
            return False
    return True


def get(sock: Path, headers: str) -> str:
    """The body of GET /here as nginx sends it: HTTP/1.1 over the unix socket."""
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(str(sock))
        client.sendall(f"GET /here HTTP/1.1\r\nHost: app.example.org\r\n{headers}Connection: close\r\n\r\n"
                       .encode())
        response = b""
        while chunk := client.recv(65536):
            response += chunk
    return response.decode().split("\r\n\r\n", 1)[1]


def test_behind_https_the_app_builds_https_urls(gunicorn_socket: Path) -> None:
    assert get(gunicorn_socket, "X-Forwarded-Proto: https\r\n") == "https://app.example.org/here"
    assert get(gunicorn_socket, "X-Forwarded-Proto: http\r\n") == "http://app.example.org/here"
