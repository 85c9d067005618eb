"""WSGI entry point: gunicorn runs ``flaskapp.wsgi:app`` (see /etc/flaskapp/gunicorn.conf.py)."""

from flaskapp import create_app

app = create_app()
