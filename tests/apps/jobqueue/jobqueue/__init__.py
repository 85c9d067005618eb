"""Jobqueue: a Flask app with an rq worker (Procfile: web, worker, release) and scheduled
jobs, as its authors would write it for Heroku: settings from the environment (REDIS_URL),
its data in its instance folder."""

import os
import sqlite3
import time

import click
from flask import Flask, g, jsonify, request

VERSION = 1


def database_path(app: Flask) -> str:
    return os.path.join(app.instance_path, "jobs.db")


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    return db


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://localhost:6379/0")

    def db() -> sqlite3.Connection:
        if "db" not in g:
            g.db = connect(database_path(app))
        return g.db

    @app.teardown_appcontext
    def close(_error: BaseException | None) -> None:
        if "db" in g:
            g.pop("db").close()

    def queue():
        from redis import Redis
        from rq import Queue
        return Queue("jobqueue", connection=Redis.from_url(app.config["REDIS_URL"]))

    @app.post("/jobs/<name>")
    def enqueue(name: str):
        seconds = float(request.args.get("seconds", "0"))
        job = queue().enqueue("jobqueue.tasks.record", name, seconds, database_path(app),
                              job_id=f"record-{name}")
        return jsonify(id=job.id), 202

    @app.get("/jobs/done")
    def done():
        rows = db().execute("SELECT name, version FROM done ORDER BY name").fetchall()
        return jsonify({name: version for name, version in rows})

    @app.get("/version")
    def version():
        return str(VERSION)

    @app.get("/ticks")
    def ticks():
        rows = db().execute("SELECT job, started, finished FROM ticks ORDER BY started").fetchall()
        return jsonify([list(row) for row in rows])

    @app.cli.command("init-db")
    def init_db() -> None:
        """Creates the tables, or brings them up to date (safe to run again)."""
        os.makedirs(app.instance_path, exist_ok=True)
        with connect(database_path(app)) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS done (name TEXT PRIMARY KEY, version INTEGER)")
            # Version 2 cannot convert a job that version 1 recorded under a reserved name.
            if VERSION >= 2 and conn.execute("SELECT 1 FROM done WHERE name = 'reserved'").fetchone():
                raise click.ClickException("cannot migrate: a job is named 'reserved' "
                                           "(flask forget reserved, then migrate again)")
            conn.execute("CREATE TABLE IF NOT EXISTS ticks (job TEXT, started REAL, finished REAL)")
            conn.execute("CREATE TABLE IF NOT EXISTS schema (version INTEGER)")
            conn.execute("DELETE FROM schema")
            conn.execute("INSERT INTO schema VALUES (?)", (VERSION,))
        click.echo(f"jobqueue: schema version {VERSION}")

    @app.cli.command("forget")
    @click.argument("name")
    def forget(name: str) -> None:
        """Forgets that a job was done."""
        with connect(database_path(app)) as conn:
            conn.execute("DELETE FROM done WHERE name = ?", (name,))

    @app.cli.command("tick")
    @click.option("--seconds", default=0.0, help="how long the tick takes")
    @click.option("--job", default="tick", help="which job it is")
    def tick(seconds: float, job: str) -> None:
        """A scheduled job: records when it started and finished, on the schema of its version."""
        started = time.time()
        time.sleep(seconds)
        with connect(database_path(app)) as conn:
            schema = conn.execute("SELECT version FROM schema").fetchone()[0]
            if schema != VERSION:
                raise click.ClickException(f"version {VERSION}'s code on schema version {schema}")
            conn.execute("INSERT INTO ticks VALUES (?, ?, ?)", (job, started, time.time()))

    @app.cli.command("fail")
    def fail() -> None:
        """A scheduled job that fails."""
        raise click.ClickException("the report's mail server refused the connection")

    return app


