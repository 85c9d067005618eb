"""What the app learns of a request from nginx in front of it, which gunicorn's socket alone
cannot tell it: the client's address, and that the request came over HTTPS.

nginx sends exactly one X-Forwarded-For address, the client's (a balancer's own claim only
when TRUSTED_PROXIES names it: nginx's real_ip module), so it becomes REMOTE_ADDR. And while a
request is HTTPS (gunicorn reads nginx's X-Forwarded-Proto), every cookie the app sets is
marked Secure: a browser then never sends the session cookie over plain HTTP, where nginx
would only redirect it. Per request, so turning TLS on or off needs no restart of the app.

Only nginx is believed. Its socket's group is www-data, which other local services share
(php-fpm's pools run as www-data): so nginx also sends the key in /etc/flaskapp/proxy_key,
which only root (nginx's master reads its configuration as root) and the app's user can read.
A request without it keeps none of those headers' claims.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from pathlib import Path

from werkzeug.middleware.proxy_fix import ProxyFix

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
PROXY_KEY = Path("/etc/flaskapp/proxy_key")
KEY_HEADER = "HTTP_X_FLASKAPP_PROXY_KEY"
# What only nginx may say: the client's address, and the scheme (gunicorn took it already).
FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_X_FORWARDED_PROTO")


def secure(cookie: str) -> str:
    attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
    return cookie if "secure" in attributes else cookie + "; Secure"


def secure_cookies(wsgi_app: WSGIApp) -> WSGIApp:
    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("wsgi.url_scheme") != "https":
            return wsgi_app(environ, start_response)

        def start(status: str, headers: list[tuple[str, str]], exc_info=None):
            headers = [(name, secure(value) if name.lower() == "set-cookie" else value)
                       for name, value in headers]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)
        return wsgi_app(environ, start)
    return app


def read_key(path: Path = PROXY_KEY) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def from_nginx_only(wsgi_app: WSGIApp, key: str) -> WSGIApp:
    """nginx's headers for requests that carry its key (taken out: the app never sees it)."""
    trusted = ProxyFix(wsgi_app, x_for=1, x_proto=0, x_host=0, x_port=0, x_prefix=0)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        given = environ.pop(KEY_HEADER, "")
        if key and hmac.compare_digest(given.encode(), key.encode()):
            return trusted(environ, start_response)
        for name in FORWARDED:
            environ.pop(name, None)
        environ["wsgi.url_scheme"] = "http"
        return wsgi_app(environ, start_response)
    return app


def behind_nginx(wsgi_app: WSGIApp, key: str | None = None) -> WSGIApp:
    return secure_cookies(from_nginx_only(wsgi_app, read_key() if key is None else key))
