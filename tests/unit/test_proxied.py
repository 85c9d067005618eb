"""What the platform takes from nginx in front of the app: the client's address, and HTTPS,
for which every cookie the app sets is Secure."""

from __future__ import annotations

from flask import Flask, request, session
from flaskapp_platform.proxied import behind_nginx

KEY = "9" * 64
NGINX = {"X-Flaskapp-Proxy-Key": KEY}


def app() -> Flask:
    flask_app = Flask(__name__)
    flask_app.secret_key = "test"

    @flask_app.get("/login")
    def login() -> str:
        session["user"] = "ada"
        response = flask_app.make_response("ok")
        response.set_cookie("theme", "dark", secure=True)
        response.set_cookie("lang", "es")
        return response

    @flask_app.get("/scheme")
    def scheme() -> str:
        return request.scheme

    @flask_app.get("/who")
    def who() -> str:
        return request.remote_addr or ""
    flask_app.wsgi_app = behind_nginx(flask_app.wsgi_app, KEY)
    return flask_app


def cookies(response) -> dict[str, str]:
    return {value.split("=")[0]: value for value in response.headers.getlist("Set-Cookie")}


def test_over_https_every_cookie_is_secure_and_over_http_as_the_app_set_it() -> None:
    client = app().test_client()
    over_https = cookies(client.get("/login", base_url="https://app.example.org", headers=NGINX))
    assert all("; Secure" in cookie for cookie in over_https.values()), over_https
    assert over_https["theme"].count("Secure") == 1
    over_http = cookies(client.get("/login", base_url="http://app.example.org", headers=NGINX))
    assert "Secure" not in over_http["session"] and "Secure" not in over_http["lang"]


def test_the_clients_address_is_the_one_nginx_sends() -> None:
    client = app().test_client()
    # nginx sends exactly one address: the client's.
    assert client.get("/who", headers={"X-Forwarded-For": "203.0.113.7", **NGINX},
                      environ_base={"REMOTE_ADDR": ""}).text == "203.0.113.7"


def test_another_local_service_on_the_socket_is_not_believed() -> None:
    client = app().test_client()
    for headers in ({"X-Forwarded-For": "6.6.6.6"},
                    {"X-Forwarded-For": "6.6.6.6", "X-Flaskapp-Proxy-Key": "0" * 64}):
        assert client.get("/who", headers=headers, environ_base={"REMOTE_ADDR": ""}).text == ""
    # Nor its claim of HTTPS (which gunicorn took from its X-Forwarded-Proto).
    assert client.get("/scheme", base_url="https://app.example.org").text == "http"
    assert client.get("/scheme", base_url="https://app.example.org", headers=NGINX).text == "https"
