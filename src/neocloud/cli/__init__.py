"""The ``neocloud`` command line: one typer app (``cli.root``); each module registers a group of commands."""

from __future__ import annotations

import datetime as dt
import os
import sys
import traceback
from pathlib import Path

import click
import typer
from platformdirs import user_log_dir

# The command modules register themselves on ``app`` when imported; each imports its heavy libraries in
# the command that needs them, so that ``--help``, ``validate`` and ``size`` start quickly.
from neocloud.cli import catalog, compute, inference, optimize, run, runs, serve, sweep
from neocloud.cli.root import app
from neocloud.errors import NeocloudError, ScenarioError

__all__ = ["app", "catalog", "compute", "inference", "main", "optimize", "run", "runs", "serve", "sweep"]

LOG_ENV = "NEOCLOUD_LOG_DIR"


def log_unexpected(err: BaseException) -> Path | None:
    """Append the traceback of an unexpected error to ``neocloud-errors.log``; its path (None if unwritable).

    The folder is ``$NEOCLOUD_LOG_DIR`` or the user's log folder (platformdirs).
    """
    folder = Path(os.environ.get(LOG_ENV) or user_log_dir("neocloud", appauthor=False))
    path = folder / "neocloud-errors.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"--- {dt.datetime.now(dt.UTC).isoformat()} neocloud {' '.join(sys.argv[1:])}\n")
            handle.write("".join(traceback.format_exception(err)))
    except OSError:
        return None
    return path


def usage_message(err: Exception) -> str:
    """A usage error's message, naming the option or argument when there is one."""
    formatted = getattr(err, "format_message", None)
    message = formatted() if formatted is not None else str(err)
    param, ctx = getattr(err, "param", None), getattr(err, "ctx", None)
    if param is not None and ctx is not None and not message.startswith("Invalid value"):
        message = f"Invalid value for {param.get_error_hint(ctx)}: {getattr(err, 'message', message)}"
    return message


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


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
    except (click.ClickException, typer.TyperException) as err:  # unknown option, bad value: one line, exit 2
        typer.echo(f"error: {one_line(usage_message(err))}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as err:  # a fault of neocloud, not of the input: one line, the traceback in a log file
        log = log_unexpected(err)
        where = f" (details in {log})" if log else ""
        typer.echo(f"error: unexpected {type(err).__name__}: {one_line(str(err), 200)}{where}", err=True)
        sys.exit(1)
