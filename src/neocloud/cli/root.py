"""The root typer app of the command line; the command modules register their commands on it."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="neocloud: a digital twin of AI data-center campuses.")


def _version(value: bool) -> None:
    if value:
        from neocloud.version import neocloud_version

        typer.echo(f"neocloud {neocloud_version()}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_version),
) -> None:
    """neocloud: a digital twin of AI data-center campuses."""
