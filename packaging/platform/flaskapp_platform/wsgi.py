"""What gunicorn serves (flaskapp.service): the app in the slot, with the platform around it."""

from . import load_app

app = load_app()
