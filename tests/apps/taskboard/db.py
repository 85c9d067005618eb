"""SQLite in the instance folder; the schema is the migrations/ scripts, applied in order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext

MIGRATIONS = Path(__file__).parent / "migrations"


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"], detect_types=sqlite3.PARSE_DECLTYPES)
        g.db.row_factory = sqlite3.Row
    return g.db


def close_db(error: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def migrate(db: sqlite3.Connection) -> list[str]:
    """Applies the scripts numbered above the database's user_version; returns their names."""
    current = db.execute("PRAGMA user_version").fetchone()[0]
    applied = []
    for script in sorted(MIGRATIONS.glob("*.sql")):
        number = int(script.name.split("-", 1)[0])
        if number > current:
            db.executescript(f"BEGIN;\n{script.read_text()}\nPRAGMA user_version = {number};\nCOMMIT;")
            applied.append(script.name)
    return applied


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the database (a database already there is kept, and brought up to date)."""
    migrate(get_db())
    click.echo(f"Initialized the database: {current_app.config['DATABASE']}")


@click.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Bring the database's schema up to date."""
    applied = migrate(get_db())
    click.echo(f"applied: {', '.join(applied)}" if applied else "the schema is up to date")


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
    app.cli.add_command(migrate_command)
