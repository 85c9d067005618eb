"""/usr/bin/flaskapp, the configure-time load and the migrations run with the service's own
settings, as systemd loaded them: the unit file, then its drop-ins."""

from __future__ import annotations

from flaskapp_site.as_service import unit_properties

from ..conftest import REPO

DROP_IN = """
# /etc/systemd/system/flaskapp.service.d/database.conf
[Unit]
After=postgresql.service

[Service]
PrivateNetwork=no
RestrictAddressFamilies=AF_UNIX AF_INET \\
    AF_INET6
IPAddressDeny=any
IPAddressAllow=localhost
LoadCredential=db:/etc/flaskapp/db-password
BindReadOnlyPaths=/run/postgresql
ReadWritePaths=
"""


def unit() -> str:
    shipped = REPO / "packaging/systemd/flaskapp.service"
    return "# /lib/systemd/system/flaskapp.service\n" + shipped.read_text()


def test_every_setting_of_the_service_is_the_commands_but_how_systemd_runs_the_process() -> None:
    properties = unit_properties(unit(), interactive=False)
    for setting in ("User=flaskapp", "ProtectProc=invisible", "ProcSubset=pid", "CapabilityBoundingSet=",
                    "DevicePolicy=closed", "RemoveIPC=yes", "SystemCallArchitectures=native",
                    "SystemCallFilter=@system-service", "SystemCallFilter=~@privileged @resources",
                    "EnvironmentFile=-/etc/flaskapp/flaskapp.env", "StateDirectory=flaskapp/app"):
        assert setting in properties
    names = {p.partition("=")[0] for p in properties}
    assert not names & {"Type", "ExecStart", "ExecReload", "ExecStartPre", "ExecStopPost", "Restart",
                        "TimeoutStopSec"}
    # The command runs the installed version, not the one an upgrade pins for the service.
    assert not any(p.startswith("BindReadOnlyPaths=") for p in properties)


def test_a_drop_in_changes_the_command_as_it_changes_the_service() -> None:
    properties = unit_properties(unit() + DROP_IN, interactive=False)
    assert properties[-7:] == [
        "PrivateNetwork=no", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "IPAddressDeny=any",
        "IPAddressAllow=localhost", "LoadCredential=db:/etc/flaskapp/db-password",
        "BindReadOnlyPaths=/run/postgresql", "ReadWritePaths=",
    ]
    assert "After=postgresql.service" not in properties  # [Unit]: not the process's


def test_a_terminal_goes_without_the_system_call_filter_alone() -> None:
    batch, terminal = unit_properties(unit(), interactive=False), unit_properties(unit(), interactive=True)
    assert [p for p in batch if p not in terminal] == [
        "SystemCallErrorNumber=EPERM", "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources"]
