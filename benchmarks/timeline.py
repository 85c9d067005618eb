"""Requests served and failed per 100 ms across an event, drawn as a PNG with gnuplot: what a
restart looks like to clients, at a glance."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.e2e.load import responses_during

BIN_SECONDS = 0.1


def timeline_during(url: str, event: Callable[[], object], seconds: float,
                    clients: int = 8) -> list[tuple[float, bool]]:
    """(seconds since the start, whether it was a 2xx) for every request of `clients`
    keep-alive clients over `seconds`, the event 1 s in."""
    return [(answer.at, 200 <= answer.status < 300)
            for answer in responses_during(url, event, seconds, clients, limit=200_000)]


def per_bin(answers: list[tuple[float, bool]], seconds: float) -> list[tuple[float, int, int]]:
    """(bin start, served, failed) for every BIN_SECONDS of the run."""
    bins = [[0, 0] for _ in range(int(seconds / BIN_SECONDS))]
    for at, ok in answers:
        if int(at / BIN_SECONDS) < len(bins):  # not the last requests' partial bin
            bins[int(at / BIN_SECONDS)][0 if ok else 1] += 1
    return [(index * BIN_SECONDS, served, failed) for index, (served, failed) in enumerate(bins)]


def draw(panels: dict[str, list[tuple[float, bool]]], seconds: float, png: Path) -> None:
    """One panel per run, one above the other: served (green) and failed (red) per 100 ms."""
    data = png.with_suffix(".dat")
    blocks = ["\n".join(f"{at:.1f} {served} {failed}" for at, served, failed in per_bin(answers, seconds))
              for answers in panels.values()]
    data.write_text("\n\n\n".join(blocks) + "\n")
    plots = []
    for index, title in enumerate(panels):
        plots.append(
            f'set title "{title}"\n'
            f'plot "{data}" index {index} using 1:2 with steps lw 2 lc rgb "#2e7d32" title "served", '
            f'"{data}" index {index} using 1:3 with steps lw 2 lc rgb "#c62828" title "failed"\n')
    script = (
        f'set terminal pngcairo size 900,{260 * len(panels)} font "sans,10"\n'
        f'set output "{png}"\n'
        f"set multiplot layout {len(panels)},1\n"
        'set xlabel "seconds (the event at 1 s)"\nset ylabel "requests per 100 ms"\n'
        "set yrange [0:*]\nset key top right\nset grid\n"
        + "".join(plots) + "unset multiplot\n"
    )
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    data.unlink()
