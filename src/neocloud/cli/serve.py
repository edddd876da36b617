"""``neocloud serve``: the dashboard and the JSON API (FastAPI under uvicorn), on loopback by default."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

import typer

from neocloud.cli.root import app
from neocloud.errors import ScenarioError, require_extra
from neocloud.limits import DEFAULT_MAX_DRAWS, TOKEN_ENV


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("serve")
def serve_command(
    host: Annotated[
        str, typer.Option(help="Address to bind; loopback unless you give a token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            help=f"Bearer token the API requires (default ${TOKEN_ENV}); needed to bind beyond loopback."
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="SQLAlchemy URL of the store (default $NEOCLOUD_STORE or SQLite in the user's data folder).",
        ),
    ] = None,
    max_draws: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Most draws one request may ask for.")
    ] = DEFAULT_MAX_DRAWS,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(help="Host name the Host header may give (repeatable); default the loopback names, "
                     "or any name when bound beyond loopback with a token."),
    ] = None,
) -> None:
    """Serve the dashboard and the JSON API (/api, /openapi.json)."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host) and not token:
        raise ScenarioError(
            f"binding to {host} would open the API to the network without a token",
            field="--host",
            value=host,
            allowed=f"127.0.0.1, ::1, or give --token / ${TOKEN_ENV}",
        )
    hosts = allowed_host or (None if is_loopback(host) else ["*"])
    require_extra("web", "neocloud serve")
    import uvicorn

    from neocloud.web import create_app

    application = create_app(store_url=store, token=token, max_draws=max_draws, allowed_hosts=hosts,
                             preview_processes=True)
    typer.echo(f"neocloud dashboard on http://{host}:{port}/ (store {application.state.store.display_url()})")
    uvicorn.run(application, host=host, port=port, log_level="warning")
