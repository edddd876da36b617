"""The ``neocloud`` command line: one typer app; each module registers a group of commands."""

from __future__ import annotations

import sys

import typer

from neocloud.errors import NeocloudError, ScenarioError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="neocloud: a digital twin of AI data-center campuses.")

# The command modules register themselves on ``app`` when imported.
from neocloud.cli import catalog, compute, optimize, run, runs, serve, sweep  # noqa: E402

__all__ = ["app", "catalog", "compute", "main", "optimize", "run", "runs", "serve", "sweep"]


def main() -> None:
    """Entry point: run the app; a user's mistake prints one line and exits with code 2."""
    try:
        app(standalone_mode=False)
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
    except Exception as err:  # click's usage errors
        import click

        if isinstance(err, click.ClickException):
            err.show()
            sys.exit(2)
        raise
