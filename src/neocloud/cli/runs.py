"""``neocloud runs list | show ID | compare ID ID | export ID``: the runs the store keeps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from neocloud.cli import app
from neocloud.store import Store

runs_app = typer.Typer(no_args_is_help=True, help="The runs kept in the store: list, show, compare, export.")
app.add_typer(runs_app, name="runs")

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="SQLAlchemy URL of the store (default $NEOCLOUD_STORE or SQLite in the user's data folder).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def shown(value: Any) -> str:
    """A summary value as a table cell."""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:,.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "–" if value is None else str(value)


@runs_app.command("list")
def list_command(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="How many of the newest runs.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the newest runs: id, when, scenario, hash, seed, draws, version."""
    opened = Store(store)
    runs = opened.list(limit=limit)
    if as_json:
        typer.echo(json.dumps({"store": opened.display_url(), "count": opened.count(), "runs": runs}))
        return
    table = Table(title=f"runs in {opened.display_url()}")
    for column in ("id", "created", "scenario", "sha256", "seed", "draws", "version", "origin"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            str(run["id"]),
            run["created"][:19],
            run["scenario_name"],
            run["scenario_sha256"][:12],
            str(run["seed"]),
            str(run["draws"]),
            run["version"],
            run["origin"],
        )
    Console().print(table)


@runs_app.command("show")
def show_command(
    run_id: Annotated[int, typer.Argument(metavar="ID", help="Run id (from `neocloud runs list`).")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one run: its record and summary."""
    run = Store(store).get(run_id)
    if as_json:
        typer.echo(json.dumps(run.record()))
        return
    table = Table(title=f"run {run.id}: {run.scenario_name}", show_header=False)
    for key in ("created", "scenario_sha256", "seed", "draws", "version", "origin"):
        table.add_row(key, str(run.record()[key]))
    for key, value in run.summary.items():
        table.add_row(key, shown(value))
    Console().print(table)


@runs_app.command("compare")
def compare_command(
    id_a: Annotated[int, typer.Argument(metavar="ID_A", help="First run id.")],
    id_b: Annotated[int, typer.Argument(metavar="ID_B", help="Second run id.")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Two runs' summaries side by side, with B - A and the relative change."""
    comparison = Store(store).compare(id_a, id_b)
    if as_json:
        typer.echo(json.dumps(comparison))
        return
    table = Table(
        title=f"run {id_a} ({comparison['a']['scenario_name']}) against run {id_b} "
        f"({comparison['b']['scenario_name']})"
    )
    for column in ("key", f"run {id_a}", f"run {id_b}", "B - A", "change"):
        table.add_column(column, justify="left" if column == "key" else "right")
    for row in comparison["rows"]:
        change = "" if row["change"] is None else f"{row['change']:+.1%}"
        style = "bold" if row["differs"] else None
        table.add_row(
            row["key"],
            shown(row["a"]),
            shown(row["b"]),
            "" if row["difference"] is None else shown(row["difference"]),
            change,
            style=style,
        )
    Console().print(table)


@runs_app.command("export")
def export_command(
    run_id: Annotated[int, typer.Argument(metavar="ID", help="Run id (from `neocloud runs list`).")],
    out: Annotated[Path | None, typer.Option(help="Folder to write into (default ./run-ID).")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a run's summary.json, results.nc and scenario.yaml into a folder."""
    folder = out if out is not None else Path(f"run-{run_id}")
    paths = Store(store).export(run_id, folder)
    if as_json:
        typer.echo(json.dumps({name: str(path) for name, path in paths.items()}))
    else:
        typer.echo(f"wrote {', '.join(str(path) for path in paths.values())}")
