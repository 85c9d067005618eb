"""The hello-world app in the slot (Flask test client, no server)."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_root_answers_hello_world(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.data == b"Hello World!"


def test_unknown_path_is_404(client: FlaskClient) -> None:
    assert client.get("/nope").status_code == 404


def test_post_to_root_is_405(client: FlaskClient) -> None:
    assert client.post("/").status_code == 405
