"""What gunicorn serves (flaskapp.service): the app in the slot, with the platform around it,
behind nginx (proxied.py: the client's address, Secure cookies over HTTPS)."""

from . import load_app
from .proxied import behind_nginx

app = load_app()
app.wsgi_app = behind_nginx(app.wsgi_app)
