"""HTTP load on a test host with wrk, bounded in time, counting every failed request."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import requests

# Latency as wrk prints it ("1.23ms", "850.00us", "2.01s") in milliseconds.
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


@dataclass
class LoadResult:
    output: str = ""
    requests: int = 0
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    requests_per_second: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p99, max

    @property
    def failed(self) -> int:
        """Requests answered with a non-2xx/3xx status, plus connections that broke."""
        return self.non_2xx + sum(self.socket_errors.values())

    @classmethod
    def parse(cls, output: str) -> LoadResult:
        result = cls(output=output)
        result.requests = int(re.search(r"(\d+) requests in", output).group(1))
        if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
            result.non_2xx = int(match.group(1))
        if match := re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
        ):
            result.socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                                            map(int, match.groups()), strict=True))
        result.requests_per_second = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
        for name, pattern in (("p50", r"\n\s+50%\s+(\S+)"), ("p99", r"\n\s+99%\s+(\S+)"),
                              ("max", r"Latency\s+\S+\s+\S+\s+(\S+)")):
            if match := re.search(pattern, output):
                result.latency_ms[name] = _milliseconds(match.group(1))
        return result

    def __str__(self) -> str:
        return (f"{self.requests} requests, {self.failed} failed "
                f"(non-2xx {self.non_2xx}, socket errors {self.socket_errors}), "
                f"{self.requests_per_second:.0f} req/s, latency {self.latency_ms}")


def recorded(requests: int, failed: int) -> None:
    """With FLASKAPP_LOAD_LOG set, each load run's count is added to that file, with the test that
    sent it: the counts that a change to the suite must not lower (README, "Test")."""
    if log := os.environ.get("FLASKAPP_LOAD_LOG"):
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
        with open(log, "a") as file:
            file.write(f"{test}\t{requests}\t{failed}\n")


def wrk_command(url: str, seconds: float, connections: int, threads: int = 2,
                headers: tuple[str, ...] = (), cpus: str | None = None) -> list[str]:
    """wrk's command line; with cpus (a list such as "0" or "0-1"), it runs on those alone."""
    pinned = ["taskset", "--cpu-list", cpus] if cpus else []
    return [*pinned, "wrk", f"--threads={threads}", f"--connections={connections}",
            f"--duration={seconds:g}s", "--timeout=10s", "--latency",
            *(f"--header={header}" for header in headers), url]


@contextmanager
def load(url: str, seconds: float = 6, connections: int = 16,
         headers: tuple[str, ...] = (), cpus: str | None = None) -> Iterator[LoadResult]:
    """Sends requests to url for `seconds` while the with-block runs; the result is
    filled in when the block ends (wrk ends by itself after `seconds`)."""
    result = LoadResult()
    process = subprocess.Popen(wrk_command(url, seconds, connections, headers=headers, cpus=cpus),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield result
    finally:
        output, _ = process.communicate(timeout=seconds + 30)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {output}")
    parsed = LoadResult.parse(output)
    recorded(parsed.requests, parsed.failed)
    result.__dict__.update(parsed.__dict__)


def during(url: str, event: Callable[[], object], seconds: float, lead: float = 1.0,
           connections: int = 16, headers: tuple[str, ...] = ()) -> LoadResult:
    """Load for `seconds`; after `lead` seconds of it, the event (a restart, an upgrade...)."""
    with load(url, seconds, connections, headers) as result:
        time.sleep(lead)
        event()
    return result


def throughout(url: str, event: Callable[[], object], max_seconds: float, lead: float = 1.0,
               connections: int = 16) -> LoadResult:
    """Load from `lead` seconds before the event until it ends (at most max_seconds in all):
    for events that take minutes, such as a release upgrade. wrk reports when interrupted."""
    process = subprocess.Popen(wrk_command(url, max_seconds, connections),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(lead)
        event()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {output}")
    parsed = LoadResult.parse(output)
    recorded(parsed.requests, parsed.failed)
    return parsed


class Answer(NamedTuple):
    at: float  # seconds since the load started
    status: int  # 0: no response (the error is the body)
    body: str


def responses_during(url: str, event: Callable[[], object], seconds: float, clients: int = 4,
                     lead: float = 1.0, limit: int = 50_000) -> list[Answer]:
    """GETs url from `clients` threads, each on its own keep-alive connection, for `seconds`
    and at most `limit` requests in all; after `lead` seconds, the event. Returns every
    response in the order they arrived. For what wrk cannot tell: what each response says,
    and when it came."""
    responses: list[Answer] = []
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + seconds

    def client() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline and len(responses) < limit:
                try:
                    response = session.get(url, timeout=10)
                    status, body = response.status_code, response.text
                except requests.RequestException as error:
                    status, body = 0, repr(error)
                with lock:
                    responses.append(Answer(time.monotonic() - started, status, body))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(lead)
        event()
    finally:
        for thread in threads:
            thread.join(timeout=seconds + 30)
    recorded(len(responses), sum(1 for answer in responses if answer.status == 0))
    return responses
