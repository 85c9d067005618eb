"""The worker's jobs (rq imports them by name)."""

import time

from . import VERSION, connect


def record(name: str, seconds: float, database: str) -> None:
    """Takes `seconds`, then records that `name` was done, and by which version: done twice,
    the primary key refuses it and the job fails."""
    time.sleep(seconds)
    with connect(database) as conn:
        schema = conn.execute("SELECT version FROM schema").fetchone()[0]
        if schema != VERSION:
            raise RuntimeError(f"version {VERSION}'s code on schema version {schema}")
        conn.execute("INSERT INTO done VALUES (?, ?)", (name, VERSION))
