"""The ``neocloud`` command line: one typer app; each module registers a group of commands."""

from __future__ import annotations

import sys

import click
import typer

from neocloud.errors import NeocloudError, ScenarioError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="neocloud: a digital twin of AI data-center campuses.")

def _version(value: bool) -> None:
    if value:
        from neocloud.store import neocloud_version

        typer.echo(f"neocloud {neocloud_version()}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_version),
) -> None:
    """neocloud: a digital twin of AI data-center campuses."""


# The command modules register themselves on ``app`` when imported.
from neocloud.cli import catalog, compute, inference, optimize, run, runs, serve, sweep  # noqa: E402

__all__ = ["app", "catalog", "compute", "inference", "main", "optimize", "run", "runs", "serve", "sweep"]


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; a user's mistake prints one line and exits with code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except ScenarioError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except NeocloudError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(1)
    except typer.Exit as err:
        sys.exit(err.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except (click.ClickException, typer.TyperException) as err:  # usage errors: unknown option, bad value
        show = getattr(err, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"error: {err}", err=True)
        sys.exit(2)
