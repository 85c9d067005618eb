"""Hostile and broken HTTP through nginx, each sent while valid requests keep coming: the bad
request gets a 4xx or a closed connection, not one valid request fails, no worker dies."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from .host import Host
from .load import LoadResult, load

# How long valid requests run around each hostile one, and how many at once.
LOAD_SECONDS = 4
SLOWLORIS_CONNECTIONS = 50
# nginx's client_header_timeout in the site, plus room for its timer.
HEADER_TIMEOUT_SECONDS = 10 + 3


def workers(host: Host) -> set[str]:
    master = host.service("flaskapp.service").main_pid
    return set(host.file(f"/proc/{master}/task/{master}/children").content.split())


def settled_workers(host: Host) -> set[str]:
    """The workers, once gunicorn has started all of them (unchanged for a second)."""
    previous, current = set(), workers(host)
    while current != previous:
        time.sleep(1)
        previous, current = current, workers(host)
    return current


@pytest.fixture
def under_load(served: Host) -> Iterator[LoadResult]:
    """Valid requests during the test; afterwards, none failed and every worker survived."""
    before = settled_workers(served)
    with load(f"http://{served.address}/", LOAD_SECONDS, connections=8) as result:
        yield result
    assert result.requests > 500, result
    assert result.failed == 0, result
    assert workers(served) == before, "a worker died or was replaced"


def send_raw(host: Host, data: bytes, timeout: float = 5) -> bytes:
    """Sends bytes to port 80 as they are and returns all that came back before the close."""
    with socket.create_connection((host.address, 80), timeout=timeout) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0


def test_malformed_request_line_is_400(served: Host, under_load: LoadResult) -> None:
    assert status(send_raw(served, b"GARBAGE\r\n\r\n")) == 400
    assert status(send_raw(served, b"GET / HTTP/9.9\r\nHost: x\r\n\r\n")) in (400, 505)


def test_oversized_header_is_400(served: Host, under_load: LoadResult) -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    assert status(send_raw(served, request)) == 400


def test_oversized_body_is_413(served: Host, under_load: LoadResult) -> None:
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 4096
    # nginx answers at once, then reads what the client still sends for its lingering_timeout
    # (5 s of silence) before it closes: wait longer than that for the close.
    assert status(send_raw(served, request, timeout=15)) == 413


def test_path_traversal_reaches_no_file(served: Host, under_load: LoadResult) -> None:
    assert status(send_raw(served, b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")) == 400
    encoded = served.get("/%2e%2e/%2e%2e/etc/passwd")
    assert encoded.status_code in (400, 404)  # nginx decodes %2e and refuses to climb
    assert "root:" not in encoded.text


def test_missing_or_malformed_host_is_400(served: Host, under_load: LoadResult) -> None:
    assert status(send_raw(served, b"GET / HTTP/1.1\r\n\r\n")) == 400
    assert status(send_raw(served, b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n")) == 400


def test_burst_of_connections_is_served(served: Host, under_load: LoadResult) -> None:
    with load(f"http://{served.address}/", seconds=2, connections=256) as burst:
        pass
    assert burst.requests > 500, burst
    assert burst.failed == 0, burst


def test_slow_headers_are_cut_off(served: Host) -> None:
    # Slowloris: many connections that never finish their headers. Runs beside a load of
    # its own, as long as nginx's header timeout, so it is not bounded by LOAD_SECONDS.
    before = settled_workers(served)
    slow = [socket.create_connection((served.address, 80), timeout=2)
            for _ in range(SLOWLORIS_CONNECTIONS)]
    with load(f"http://{served.address}/", HEADER_TIMEOUT_SECONDS + 1, connections=8) as result:
        for conn in slow:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + HEADER_TIMEOUT_SECONDS
        open_ = list(slow)
        while open_ and time.monotonic() < deadline:
            for conn in list(open_):
                try:
                    conn.sendall(b"X-Slow: 1\r\n")
                    conn.settimeout(0.01)
                    if conn.recv(1024) == b"":
                        open_.remove(conn)
                except (TimeoutError, BlockingIOError):
                    pass
                except OSError:  # reset by nginx
                    open_.remove(conn)
            time.sleep(1)
    for conn in slow:
        conn.close()
    assert open_ == [], f"{len(open_)} slow connections still open after {HEADER_TIMEOUT_SECONDS}s"
    assert result.failed == 0, result
    assert workers(served) == before
