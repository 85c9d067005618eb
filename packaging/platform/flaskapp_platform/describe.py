"""Loads the app as flaskapp.service's gunicorn does, from gunicorn's own arguments
(``--config /etc/flaskapp/gunicorn.conf.py flaskapp_platform.wsgi:app``), and prints what the
platform needs to know of it, as JSON: where its static files are and under which URL path,
so that nginx serves them.

flaskapp-site runs it at configure, in the service's sandbox: a broken gunicorn configuration
or app fails here with gunicorn's error or the app's traceback, as `gunicorn --check-config`
would (it runs the same code): one load both checks the app and describes it."""

import json
import os

from gunicorn.app.wsgiapp import WSGIApplication

# gunicorn's own parsing of sys.argv and of the configuration file; on an error it prints it
# and exits 1.
gunicorn = WSGIApplication("%(prog)s [OPTIONS] APP_MODULE", prog="gunicorn")
app = gunicorn.load()
# Flask names a static folder for every app (has_static_folder only says it is named): one
# that is not there is not served.
served = app.static_folder is not None and os.path.isdir(app.static_folder)
print(json.dumps({
    "static_url_path": app.static_url_path if served else None,
    "static_folder": app.static_folder if served else None,
}))
