"""/usr/bin/flaskapp runs the app's CLI with what systemd made of flaskapp.service."""

from __future__ import annotations

from flaskapp_site.as_service import unit_properties


def test_the_cli_runs_with_what_systemd_made_of_the_unit() -> None:
    show = ("User=flaskapp\nGroup=flaskapp\nPrivateNetwork=no\nRestrictAddressFamilies=AF_UNIX AF_INET\n"
            "EnvironmentFiles=/etc/flaskapp/flaskapp.env (ignore_errors=yes)\nReadWritePaths=\n"
            "Environment=FLASKAPP_SECRET_KEY_FILE=/etc/flaskapp/secret_key\n")
    assert unit_properties(show) == [
        "User=flaskapp", "Group=flaskapp", "PrivateNetwork=no", "RestrictAddressFamilies=AF_UNIX AF_INET",
        "EnvironmentFile=-/etc/flaskapp/flaskapp.env",
        "Environment=FLASKAPP_SECRET_KEY_FILE=/etc/flaskapp/secret_key",
    ]
