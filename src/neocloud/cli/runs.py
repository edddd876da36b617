"""``neocloud runs list | show ID | compare ID ID | export ID | report ID | delete ID... | prune``: the runs the store
keeps."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml

from neocloud.cli.root import app
from neocloud.cli.run import print_summary
from neocloud.cli.tables import parse_columns, print_table
from neocloud.errors import ScenarioError, require_extra

if TYPE_CHECKING:
    from neocloud.store import Store

runs_app = typer.Typer(no_args_is_help=True,
                       help="The runs kept in the store: list, show, compare, export, report, delete, prune.")
app.add_typer(runs_app, name="runs")

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="SQLAlchemy URL of the store (default $NEOCLOUD_STORE or SQLite in the user's data folder).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def open_store(url: str | None) -> Store:
    """The store at ``url`` (imported here: SQLAlchemy and xarray are slow to import)."""
    from neocloud.store import Store

    return Store(url)


def size_text(size: int) -> str:
    """Bytes as kB, MB or GB (decimal), for people."""
    for step, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if size >= step:
            return f"{size / step:.3g} {unit}"
    return f"{size} B"


LIST_COLUMNS = ("id", "created", "scenario", "draws", "seed", "origin", "sha256", "version")


@runs_app.command("list")
def list_command(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="How many of the newest runs.")] = 50,
    as_json: JsonOption = False,
    columns: Annotated[str | None, typer.Option(
        "--columns", help=f"Columns to show, comma-separated, of: {', '.join(LIST_COLUMNS)}.")] = None,
) -> None:
    """List the newest runs (id, when, scenario, draws, seed, origin, hash, version) and the store's size."""
    opened = open_store(store)
    runs = opened.list(limit=limit)
    count, size = opened.count(), opened.size_bytes()
    if as_json:
        typer.echo(json.dumps({"store": opened.display_url(), "count": count, "size_bytes": size,
                               "runs": runs}))
        return
    rows = [[str(run["id"]), run["created"][:16].replace("T", " "), run["scenario_name"], f"{run['draws']:,}",
             str(run["seed"]), run["origin"], run["scenario_sha256"][:12], run["version"]] for run in runs]
    print_table(f"{count:,} run{'s' if count != 1 else ''} in {opened.display_url()} ({size_text(size)})",
                list(LIST_COLUMNS), rows, parse_columns(columns, LIST_COLUMNS), keep=3, right=("id", "draws"))


@runs_app.command("delete")
def delete_command(
    run_ids: Annotated[list[int], typer.Argument(metavar="ID...", help="Run ids (from `neocloud runs list`).")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove runs from the store (files written with --out are left where they are)."""
    opened = open_store(store)
    for run_id in run_ids:
        opened.get(run_id)  # every id must exist before any is removed
    for run_id in run_ids:
        opened.delete(run_id)
    if as_json:
        typer.echo(json.dumps({"deleted": run_ids, "size_bytes": opened.size_bytes()}))
    else:
        typer.echo(f"deleted {len(run_ids)} run{'s' if len(run_ids) != 1 else ''}; "
                   f"the store takes {size_text(opened.size_bytes())}")


def parse_age(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``90m`` or ``2w`` as a duration; anything else is a ScenarioError."""
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    number, unit = text[:-1], text[-1:].lower()
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if unit not in units or amount < 0:
        raise ScenarioError(f"'{text}' is not a duration", field="--older-than", value=text,
                            allowed="a number with m, h, d or w, e.g. 30d")
    return dt.timedelta(**{units[unit]: amount})


@runs_app.command("prune")
def prune_command(
    older_than: Annotated[str | None, typer.Option(
        "--older-than", help="Remove runs older than this (e.g. 30d, 12h, 2w).")] = None,
    keep_last: Annotated[int | None, typer.Option(
        "--keep-last", min=0, help="Keep only the newest N runs.")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove old runs: those older than --older-than and/or all but the newest --keep-last."""
    opened = open_store(store)
    age = parse_age(older_than) if older_than is not None else None
    removed = opened.prune(older_than=age, keep_last=keep_last)
    size = opened.size_bytes()
    if as_json:
        typer.echo(json.dumps({"deleted": removed, "count": opened.count(), "size_bytes": size}))
    else:
        typer.echo(f"deleted {len(removed)} run{'s' if len(removed) != 1 else ''}; {opened.count():,} left, "
                   f"the store takes {size_text(size)}")


def _start_of(text: str) -> str | None:
    """The ``start`` month of a kept scenario's text (None when it has none or does not parse)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    start = data.get("start") if isinstance(data, dict) else None
    return str(start) if isinstance(start, str) and len(start) == 7 else None


@runs_app.command("show")
def show_command(
    run_id: Annotated[int, typer.Argument(metavar="ID", help="Run id (from `neocloud runs list`).")],
    store: StoreOption = None,
    as_json: JsonOption = False,
    full: Annotated[bool, typer.Option("--all", help="Print every summary figure, not only the headline ones.")
                    ] = False,
) -> None:
    """Show one run: its record and its summary as labelled figures (raw keys with --json)."""
    run = open_store(store).get(run_id)
    if as_json:
        typer.echo(json.dumps(run.record()))
        return
    record = run.record()
    kept = f"results in {run.results_path}" if run.results_path else "results kept in the store"
    typer.echo(f"run {run.id}: {run.scenario_name}; {record['created'][:16].replace('T', ' ')}, seed {run.seed}, "
               f"neocloud {run.version}, {run.origin}; {kept}")
    start = _start_of(run.scenario_text)
    print_summary(run.summary, f"{run.summary.get('scenario', run.scenario_name)} ({run.draws:,} draw"
                  f"{'s' if run.draws != 1 else ''}{f', from {start}' if start else ''})", start=start,
                  full=full)


@runs_app.command("compare")
def compare_command(
    id_a: Annotated[int, typer.Argument(metavar="ID_A", help="First run id.")],
    id_b: Annotated[int, typer.Argument(metavar="ID_B", help="Second run id.")],
    store: StoreOption = None,
    as_json: JsonOption = False,
    columns: Annotated[str | None, typer.Option(
        "--columns", help="Columns to show, comma-separated (default: those that fit 80 columns).")] = None,
) -> None:
    """Two runs' summaries side by side (labelled, in their units), with B - A and the relative change."""
    from neocloud import formatting

    comparison = open_store(store).compare(id_a, id_b)
    if as_json:
        typer.echo(json.dumps(comparison))
        return
    headers = ["figure", f"run {id_a}", f"run {id_b}", "B - A", "change"]
    rows = []
    for row in comparison["rows"]:
        if row["key"].endswith(("_p10", "_p90")):
            continue
        unit = formatting.unit(row["key"])
        bare = unit == "month"  # a change of months is a number of months, not a date
        rows.append([
            f"{'* ' if row['differs'] else '  '}{formatting.label(row['key'])}",
            formatting.format_value(row["a"], unit),
            formatting.format_value(row["b"], unit),
            "" if row["difference"] is None else formatting.format_value(row["difference"], "" if bare else unit),
            "" if row["change"] is None else f"{row['change']:+.1%}",
        ])
    print_table(f"run {id_a} ({comparison['a']['scenario_name']}) against run {id_b} "
                f"({comparison['b']['scenario_name']}); * differs", headers, rows,
                parse_columns(columns, headers), keep=1, right=headers[1:])


@runs_app.command("export")
def export_command(
    run_id: Annotated[int, typer.Argument(metavar="ID", help="Run id (from `neocloud runs list`).")],
    out: Annotated[Path | None, typer.Option(help="Folder to write into (default ./run-ID).")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a run's summary.json, results.nc and scenario.yaml into a folder."""
    folder = out if out is not None else Path(f"run-{run_id}")
    paths = open_store(store).export(run_id, folder)
    if as_json:
        typer.echo(json.dumps({name: str(path) for name, path in paths.items()}))
    else:
        typer.echo(f"wrote {', '.join(str(path) for path in paths.values())}")


@runs_app.command("report")
def report_command(
    run_id: Annotated[int, typer.Argument(metavar="ID", help="Run id (from `neocloud runs list`).")],
    out: Annotated[Path | None, typer.Option(help="HTML file to write (default ./run-ID-report.html).")] = None,
    store: StoreOption = None,
) -> None:
    """Write a kept run's HTML report, drawn from what the run kept (no model is run again)."""
    require_extra("report", "neocloud runs report")
    from neocloud.io import write_atomic
    from neocloud.report import render

    path = out if out is not None else Path(f"run-{run_id}-report.html")
    write_atomic(path, render(open_store(store).get(run_id).results()))
    typer.echo(f"wrote {path}")
