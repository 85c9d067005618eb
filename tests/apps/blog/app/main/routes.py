import sqlalchemy as sa
from flask import request

from app import WELCOME, db
from app.main import bp
from app.models import Post


@bp.get("/")
def index():
    return str(WELCOME)


@bp.get("/posts")
def posts():
    return "\n".join(post.body for post in db.session.scalars(sa.select(Post).order_by(Post.id)))


@bp.post("/posts")
def add_post():
    db.session.add(Post(body=request.form["body"]))
    db.session.commit()
    return "added", 201
