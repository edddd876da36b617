"""``neocloud sweep`` (a grid times draws on Dask) and ``neocloud sensitivity`` (what drives an output)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from neocloud.cli.progress import steps
from neocloud.cli.root import app
from neocloud.cli.tables import parse_columns, print_table
from neocloud.errors import require_extra
from neocloud.limits import DEFAULT_CHUNK_DRAWS, DEFAULT_SOBOL_DRAWS, MAX_SEED, QUANTILES

MAX_DRAWS = 100_000_000
SHOWN_KEYS = ("cost_usd_per_gpu_hour", "npv_usd", "capex_usd", "full_capacity_month")


@app.command("sweep")
def sweep_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    grid: Annotated[
        list[str] | None,
        typer.Option(
            help="PATH=v1,v2,... (PATH a dotted field path, e.g. finance.discount_rate=0.06,0.10)."
        ),
    ] = None,
    draws: Annotated[int, typer.Option(min=1, max=MAX_DRAWS, help="Monte Carlo draws per grid point.")] = 1,
    seed: Annotated[
        int,
        typer.Option(min=0, max=MAX_SEED, help="Random seed (0 to 2**63 - 1); chunk seeds derive from it."),
    ] = 0,
    chunk_draws: Annotated[
        int, typer.Option(min=1, help="Draws per chunk (unit of work and of storage).")
    ] = (DEFAULT_CHUNK_DRAWS),
    out: Annotated[Path | None, typer.Option(help="Folder for sweep.parquet and sweep.nc.")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address; default a local cluster.")
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of the store (default: the user's SQLite).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Workers of the local cluster.")] = 2,
    processes: Annotated[
        bool, typer.Option("--processes/--threads", help="Local workers as processes (default) or threads.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run SCENARIO over a grid of field values times Monte Carlo draws; resumes a killed sweep."""
    require_extra("dask", "neocloud sweep")
    from neocloud.sweep import run_sweep

    columns = (
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), disable=as_json) as bar:
        task = bar.add_task("sweep", total=None)
        result = run_sweep(
            scenario,
            grid or [],
            draws=draws,
            seed=seed,
            chunk_draws=chunk_draws,
            out=out,
            scheduler=scheduler,
            store=store,
            workers=workers,
            processes=processes,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    points, axes, keys = sweep_points(result)
    if as_json:
        typer.echo(json.dumps({"sweep_id": result.sweep_id, "draws": draws, "seed": seed,
                               "chunks_run": result.chunks_run, "chunks_reused": result.chunks_reused,
                               "points": points, "files": {key: str(path) for key, path in result.paths.items()}}))
        return
    print_sweep(result, points, axes, keys, draws)


def sweep_points(result: Any) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Each grid point's values and the P50 [P10, P90] of the shown keys; the grid's axes; the keys shown."""
    axes = [str(name) for name in result.quantiles.coords if name not in ("point", "quantile")]
    keys = [key for key in SHOWN_KEYS if key in result.quantiles]
    points = []
    for point in range(result.quantiles.sizes["point"]):
        row: dict[str, Any] = {axis: result.quantiles[axis].values[point].item() for axis in axes}
        for key in keys:
            low, middle, high = (float(value) for value in result.quantiles[key].values[point])
            row.update({key: middle, f"{key}_p10": low, f"{key}_p90": high})
        points.append(row)
    return points, axes, keys


def print_sweep(result: Any, points: list[dict[str, Any]], axes: list[str], keys: list[str], draws: int) -> None:
    """The sweep as a table, then its chunks and the files it wrote."""
    table = Table(title=f"sweep {result.sweep_id[:12]} ({draws} draws per point; P50 [P10, P90])")
    for name in (*axes, *keys):
        table.add_column(str(name))
    for row in points:
        cells = [str(row[axis]) for axis in axes]
        cells += [f"{row[key]:,.4g} [{row[f'{key}_p10']:,.4g}, {row[f'{key}_p90']:,.4g}]" for key in keys]
        table.add_row(*cells)
    Console().print(table)
    typer.echo(
        f"chunks run {result.chunks_run}, reused from the store {result.chunks_reused}; "
        f"quantiles {', '.join(str(level) for level in QUANTILES)}"
    )
    for path in result.paths.values():
        typer.echo(f"wrote {path}")


SENSITIVITY_COLUMNS = ("input", "at P10", "at P90", "swing", "Sobol' S1", "Sobol' ST")


@app.command("sensitivity")
def sensitivity_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file with distributions.")],
    output: Annotated[str, typer.Option(help="Summary key to explain, e.g. cost_usd_per_gpu_hour.")],
    draws: Annotated[
        int, typer.Option(min=2, max=1_048_576, help="Base sample N of the Sobol' indices (a power of two).")
    ] = (DEFAULT_SOBOL_DRAWS),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    columns: Annotated[str | None, typer.Option(
        "--columns", help=f"Columns to show, comma-separated, of: {', '.join(SENSITIVITY_COLUMNS)}.")] = None,
) -> None:
    """Which uncertain inputs drive OUTPUT: a tornado (P10/P90 swings) and Sobol' indices."""
    from neocloud import formatting
    from neocloud.load import load
    from neocloud.sensitivity import sensitivity

    loaded = load(scenario)
    picked = parse_columns(columns, SENSITIVITY_COLUMNS)
    with steps("sensitivity", quiet=as_json) as say:
        say(f"tornado and Sobol' indices of {output} (N = {draws:,})")
        result = sensitivity(loaded, output, draws=draws, seed=seed)
    if as_json:
        typer.echo(json.dumps(result))
        return
    unit = formatting.unit(output)
    indices = {item["input"]: item for item in result["sobol"]}
    rows = []
    for item in result["tornado"]:
        index = indices[item["input"]]
        rows.append([
            item["input"],
            formatting.format_value(item["low_output"], unit, bare=True),
            formatting.format_value(item["high_output"], unit, bare=True),
            formatting.format_value(item["swing"], unit, bare=True),
            f"{index['first_order']:.2f} ± {index['first_order_conf']:.2f}",
            f"{index['total_order']:.2f} ± {index['total_order_conf']:.2f}",
        ])
    title = (f"{result['scenario']}: {formatting.label(output)} ({output}) = "
             f"{formatting.format_value(result['median_case'], unit)} with every input at its median")
    print_table(title, list(SENSITIVITY_COLUMNS), rows, picked, keep=1,
                right=SENSITIVITY_COLUMNS[1:])
    typer.echo(
        f"Sobol' indices from {result['sobol_draws']:,} pipeline draws (N = {result['sobol_base_draws']})"
    )
