"""CLI: ``sourcegrid serve`` (the web app) and ``sourcegrid web password | token | demo-logins``.

The server holds the workspace for writing while it runs (DuckDB: one writer
process), so the other commands that change the same workspace wait for it;
stop the server first (Ctrl-C) to run them.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from sourcegrid.cli.common import WorkspaceOption, console, err_console, reported_errors

#: Password given by ``sourcegrid web demo-logins`` (and ``serve --demo-logins``).
DEMO_PASSWORD = "sourcegrid-demo"


def _workspace(path: Path | None):
    """The workspace, held by this process with a name other processes see while waiting."""
    from sourcegrid.store import Workspace

    return Workspace(path, command=f"sourcegrid serve (pid {os.getpid()})")


@contextmanager
def _credentials_of(path: Path | None, person_id: str):
    """The web credentials of the workspace at ``path``, once ``person_id`` is known there.

    The workspace is held for the ``with`` block and closed after it; an unknown person
    fails listing the people of the workspace.
    """
    from sourcegrid.errors import NotFoundError
    from sourcegrid.web.auth import Credentials
    from sourcegrid.web.store import WebStore
    from sourcegrid.workflow.org import Organisation

    ws = _workspace(path)
    try:
        people = Organisation.load(ws).people
        if person_id not in people:
            raise NotFoundError("person", person_id, people)
        yield Credentials(WebStore(ws))
    finally:
        ws.close()


def _demo_logins(workspace, password: str) -> list[str]:
    """Give every active person without a password ``password``; their ids."""
    from sourcegrid.web.auth import Credentials
    from sourcegrid.web.store import WebStore
    from sourcegrid.workflow.org import Organisation

    credentials = Credentials(WebStore(workspace))
    known = credentials.usernames()
    people = Organisation.load(workspace).people.values()
    chosen = sorted(p.person_id for p in people if p.active and p.person_id not in known)
    credentials.set_shared_password(chosen, password, by="sourcegrid web demo-logins")
    return chosen


def _check_listen(host: str, port: int) -> None:
    """Refuse (exit 2, naming --host or --port) an address the server could not listen on:
    a host that does not resolve, is not of this machine, or a port in use; before the
    workspace is opened or uvicorn starts."""
    import errno
    import socket

    from sourcegrid.errors import OptionError

    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as error:
        raise OptionError("--host", host, f"a host name or address this machine can resolve "
                          f"(cannot resolve it: {getattr(error, 'strerror', None) or error})"
                          ) from None
    for family, kind, proto, address in dict.fromkeys((f, k, p, a) for f, k, p, _, a in found):
        try:
            probe = socket.socket(family, kind, proto)
        except OSError:  # e.g. IPv6 not available here: uvicorn skips it too
            continue
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio does
            if family == getattr(socket, "AF_INET6", None):
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as error:
                reason = error.strerror or str(error)
                if error.errno == errno.EADDRINUSE:
                    raise OptionError("--port", port, f"a free TCP port on {host}: it is "
                                      "already in use (another program or server listens "
                                      "there); stop it or give another --port") from None
                if error.errno == errno.EACCES:
                    raise OptionError("--port", port, f"a port this user may listen on at "
                                      f"{host} ({reason}; ports below 1024 need "
                                      "administrator rights)") from None
                raise OptionError("--host", host, f"an address of this machine to listen on "
                                  f"(port {port}: {reason})") from None


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    web = typer.Typer(help="Web app accounts: passwords, API tokens, demo logins.",
                      no_args_is_help=True)
    app.add_typer(web, name="web")

    @app.command("serve")
    def serve(
        workspace: WorkspaceOption = None,
        host: Annotated[str, typer.Option(
            "--host", help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535,
                                          help="TCP port.")] = 8000,
        demo_logins: Annotated[bool, typer.Option(
            "--demo-logins", help=f"Give every person without a password the demo password "
                                  f"'{DEMO_PASSWORD}' first (demo workspaces only).")] = False,
        secure_cookies: Annotated[bool, typer.Option(
            "--secure-cookies", help="Always mark the session cookie Secure (behind a TLS "
                                     "proxy); by default only requests over https get it."
        )] = False,
        escalation_interval: Annotated[float, typer.Option(
            "--escalation-interval", min=0.0,
            help="Seconds between two runs of the dispatch of new alerts and the "
                 "escalation of overdue ones inside the app (0: off; 'sourcegrid alerts "
                 "escalate' cannot write while the app holds the workspace).")] = 300.0,
        deadlines: Annotated[str, typer.Option(
            "--deadlines", help="Deadline set of the escalation (sourcegrid_default, "
                                "strict).")] = "sourcegrid_default",
    ) -> None:
        """Serve the web app (map, dossiers, alerts, inventory, AQI, API) on one workspace.

        Log in with a person of the workspace's organisation (table people) and the
        password set by 'sourcegrid web password PERSON' (or --demo-logins on a demo).
        The API reference is at /api/docs, the schema at /api/openapi.json.

        Example: sourcegrid serve --workspace ws --port 8000
        """
        with reported_errors():
            _check_listen(host, port)  # before the workspace is held or uvicorn starts
            import uvicorn

            from sourcegrid.web import create_app

            ws = _workspace(workspace)
            if demo_logins:
                given = _demo_logins(ws, DEMO_PASSWORD)
                if given:
                    console.print(f"demo password '{DEMO_PASSWORD}' given to {len(given)} "
                                  f"people: {', '.join(given[:12])}"
                                  + (" ..." if len(given) > 12 else ""))
            from sourcegrid.workflow.alerts import deadline_set

            deadline_set(deadlines)  # a wrong name lists the valid ones before anything starts
            application = create_app(workspace=ws, secure_cookies=True if secure_cookies
                                     else None, escalation_interval=escalation_interval,
                                     deadlines=deadlines)
            people = application.state.web.credentials.usernames()
            if not people:
                err_console.print("[yellow]nobody can log in yet:[/] set a password with "
                                  "'sourcegrid web password PERSON' (or start with "
                                  "--demo-logins on a demo workspace)")
            shown = "localhost" if host in ("127.0.0.1", "::1") else host
            console.print(f"sourcegrid web on http://{shown}:{port}/ (workspace {ws.path}); "
                          "Ctrl-C stops it")
            try:
                uvicorn.run(application, host=host, port=port, log_level="warning",
                            proxy_headers=False)
            except SystemExit as stop:  # uvicorn's 3 (startup failure) is not 'workspace busy'
                if stop.code not in (None, 0):
                    from sourcegrid.errors import SourcegridError

                    raise SourcegridError(
                        f"the web server could not start on --host {host} --port {port} "
                        f"(uvicorn stopped with code {stop.code}; its message is above): "
                        "check that the port is free and the host is an address of this "
                        "machine") from None
                raise

    @web.command("password")
    def password(
        person_id: Annotated[str, typer.Argument(help="The person (table people).")],
        workspace: WorkspaceOption = None,
        stdin: Annotated[bool, typer.Option(
            "--stdin", help="Read the password from standard input (for scripts).")] = False,
    ) -> None:
        """Set a person's web password (argon2-hashed; at least 8 characters).

        Example: sourcegrid web password town_a --workspace ws
        """
        with reported_errors():
            from sourcegrid.errors import OptionError
            from sourcegrid.web.auth import MIN_PASSWORD_LENGTH

            with _credentials_of(workspace, person_id) as credentials:
                if stdin:
                    secret = sys.stdin.readline().rstrip("\n")
                else:
                    secret = typer.prompt("password", hide_input=True,
                                          confirmation_prompt=True)
                if len(secret) < MIN_PASSWORD_LENGTH:
                    raise OptionError("password", "(hidden)",
                                      f"at least {MIN_PASSWORD_LENGTH} characters")
                credentials.set_password(person_id, secret, by="sourcegrid web password")
            console.print(f"password of {person_id} set")

    @web.command("token")
    def token(
        person_id: Annotated[str, typer.Argument(help="The person the token acts as.")],
        workspace: WorkspaceOption = None,
        name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "",
    ) -> None:
        """Make an API token (printed once) for a machine client acting as a person.

        Send it as 'Authorization: Bearer <token>'.

        Example: sourcegrid web token city --name nightly-export --workspace ws
        """
        with reported_errors():
            with _credentials_of(workspace, person_id) as credentials:
                secret = credentials.create_token(person_id, name, by="sourcegrid web token")
            console.print(secret, soft_wrap=True)

    @web.command("demo-logins")
    def demo_logins_command(workspace: WorkspaceOption = None) -> None:
        """Give every person without a password the demo password 'sourcegrid-demo'.

        For demo workspaces ('sourcegrid demo'); never on real data.

        Example: sourcegrid web demo-logins --workspace ws
        """
        with reported_errors():
            ws = _workspace(workspace)
            try:
                given = _demo_logins(ws, DEMO_PASSWORD)
            finally:
                ws.close()
            console.print(f"demo password '{DEMO_PASSWORD}' given to {len(given)} people"
                          + (f": {', '.join(given)}" if given else ""))
