"""The board: everyone sees the tasks; logged-in users add them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from .auth import login_required
from .db import get_db

bp = Blueprint("board", __name__)


@bp.get("/")
def index() -> str:
    tasks = get_db().execute(
        "SELECT task.id, title, created, username FROM task JOIN user ON task.author_id = user.id"
        " ORDER BY created DESC, task.id DESC"
    ).fetchall()
    return render_template("board/index.html", tasks=tasks)


@bp.route("/create", methods=("GET", "POST"))
@login_required
def create() -> Any:
    if request.method == "POST":
        title = request.form["title"].strip()
        if not title:
            flash("A task needs a title.")
        else:
            db = get_db()
            db.execute("INSERT INTO task (title, author_id) VALUES (?, ?)", (title, g.user["id"]))
            db.commit()
            return redirect(url_for("board.index"))
    return render_template("board/create.html")
