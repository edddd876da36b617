"""``neocloud run``, ``validate``, ``schema`` and ``size``: the main job and the design stage alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from neocloud.cli.root import app
from neocloud.errors import NeocloudError, require_extra
from neocloud.limits import DEFAULT_CHUNK_DRAWS, MAX_SEED

if TYPE_CHECKING:
    from neocloud.pipeline import Results
    from neocloud.programme import ProgrammeResults

# The commands import what they use when they run: the pipeline's libraries (xarray, scipy, the store's
# SQLAlchemy) are slow to import, and ``validate`` and ``size`` need none of them.

MAX_DRAWS = 10_000_000
CHUNKED_ABOVE_DRAWS = 20_000  # beyond this, draws run in chunks and keep only their summaries
MAX_WORKERS = 256  # worker processes one run may start
PROGRESS_FROM_DRAWS = 1_000  # runs of this many draws or more show progress on a terminal


def print_summary(summary: dict, title: str, start: str | None = None, full: bool = False) -> None:
    """Print a summary as labelled rows grouped by stage (the headline rows unless ``full``)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from neocloud.formatting import grouped_rows, summary_rows

    ranged = any(key.endswith("_p10") for key in summary)
    table = Table(title=title, box=box.SIMPLE_HEAD, show_header=True, pad_edge=False)
    table.add_column("figure", overflow="fold", max_width=34)
    table.add_column("P10 – P50 – P90" if ranged else "value", overflow="fold")
    for stage, rows in grouped_rows(summary_rows(summary, start, headline=not full)):
        table.add_row(f"[bold]{stage}[/bold]", "")
        for row in rows:
            table.add_row(f"  {row.label}", row.text)
    Console().print(table)


def keep_run(results: Results | ProgrammeResults, url: str | None, quiet: bool = False,
             scenario_text: str | None = None, results_path: Path | None = None) -> None:
    """Keep a run in the store; a store that cannot be written is a warning on stderr, not a lost result.

    ``quiet`` (with ``--json``) leaves the output to the one JSON object, even where stderr is merged into it.
    ``results_path`` (the ``--out`` folder's results file) is kept as a pointer instead of a copy.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from neocloud.store import Store

    if results_path is not None and not results_path.is_file():
        results_path = None
    try:
        opened = Store(url)
        run_id = opened.save(results, origin="cli", scenario_text=scenario_text, results_path=results_path)
    except (NeocloudError, SQLAlchemyError, OSError) as err:
        typer.echo(f"warning: run not kept in the store: {err}", err=True)
        return
    if not quiet:
        typer.echo(f"kept as run {run_id} in {opened.display_url()}", err=True)
        if results.draws > opened.max_kept_draws:
            typer.echo(f"the run keeps the results of the first {opened.max_kept_draws:,} of {results.draws:,} "
                       "draws; its summary covers them all", err=True)


@app.command("run")
def run_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario (or programme) YAML file.")],
    draws: Annotated[int, typer.Option(min=1, max=MAX_DRAWS, help="Monte Carlo draws.")] = 1,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Random seed (0 to 2**63 - 1).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[Path | None, typer.Option(help="Folder for summary.json, results.nc, report.html.")
                   ] = None,
    store: Annotated[str | None, typer.Option(
        "--store", help="SQLAlchemy URL of the store keeping the run (default $NEOCLOUD_STORE or SQLite).")
    ] = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not keep this run in the store.")] = False,
    full: Annotated[bool, typer.Option("--all", help="Print every summary figure, not only the headline ones.")
                    ] = False,
    keep: Annotated[bool, typer.Option(
        "--keep", help="With --out, keep a copy of the results in the store too (else a pointer to --out).")
    ] = False,
    workers: Annotated[int, typer.Option(
        min=1, max=MAX_WORKERS,
        help=f"Worker processes for the chunks of a run of more than {CHUNKED_ABOVE_DRAWS:,} draws (Dask).")
    ] = 1,
    chunk_draws: Annotated[int, typer.Option(
        min=1, max=MAX_DRAWS, help=f"Draws per chunk of a run of more than {CHUNKED_ABOVE_DRAWS:,} draws.")
    ] = DEFAULT_CHUNK_DRAWS,
) -> None:
    """Run a scenario through the pipeline, keep it in the store and print its summary."""
    from neocloud.cli.progress import steps
    from neocloud.programme import ProgrammeResults

    pointer = out / "results.nc" if out is not None and not keep else None
    with steps(f"{draws:,} draws", quiet=as_json or draws < PROGRESS_FROM_DRAWS) as say:
        say("running the pipeline" if draws <= CHUNKED_ABOVE_DRAWS else "running the pipeline in chunks")
        summary, results = _run(scenario, draws, seed, out, (chunk_draws, workers))
    if not no_store:
        text = scenario.read_text(encoding="utf-8") if isinstance(results, ProgrammeResults) else None
        keep_run(results, store, quiet=as_json, scenario_text=text, results_path=pointer)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    start = None if isinstance(results, ProgrammeResults) else str(results.scenario.start)
    shown = f", from {start}" if start else ""
    print_summary(summary, f"{summary['scenario']} ({draws:,} draw{'s' if draws > 1 else ''}{shown})",
                  start=start, full=full)
    if out is not None:
        typer.echo(f"wrote {out}/summary.json, {out}/results.nc, {out}/report.html")


def _run(scenario: Path, draws: int, seed: int, out: Path | None,
         chunks: tuple[int, int] = (DEFAULT_CHUNK_DRAWS, 1)) -> tuple[dict, Results | ProgrammeResults]:
    """Run a campus or programme file and write ``out``: the summary and the results; a run of many draws
    in ``chunks`` (draws per chunk, worker processes)."""
    from neocloud.load import is_programme_file, load
    from neocloud.pipeline import run as run_pipeline
    from neocloud.programme import load_programme, run_programme
    from neocloud.uncertainty import uncertain_inputs

    if out is not None:
        require_extra("report", "neocloud run --out (its report.html)")
    if is_programme_file(scenario):
        programme = run_programme(load_programme(scenario), draws=draws, seed=seed)
        if out is not None:
            from neocloud.report.programme import render_programme

            programme.write(out, render_programme)
        return programme.summary(), programme
    loaded = load(scenario)
    if draws > CHUNKED_ABOVE_DRAWS and uncertain_inputs(loaded):  # bounded memory: summaries, chunk by chunk
        require_extra("dask", f"neocloud run with more than {CHUNKED_ABOVE_DRAWS:,} draws")
        from neocloud.sweep import keep_freed_memory, run_chunked

        keep_freed_memory()  # chunk after chunk in this process: freed memory reused, not faulted in again
        results = run_chunked(loaded, draws, seed, *chunks)
        if out is not None:
            results.write(out)
            typer.echo(f"{draws:,} draws are run in chunks: the report is written for runs of up to "
                       f"{CHUNKED_ABOVE_DRAWS:,} draws", err=True)
        return results.summary(), results
    results = run_pipeline(scenario, draws=draws, seed=seed, one_draw_if_certain=True)
    for note in results.notes:
        typer.echo(f"note: {note}", err=True)
    if out is not None:
        from neocloud.report import render

        results.write(out, render)
    return results.summary(), results


@app.command("validate")
def validate_command(scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")]) -> None:
    """Check a scenario file; print 'ok' or one line naming the problem (exit code 2)."""
    from neocloud.load import is_programme_file, load

    if is_programme_file(scenario):
        from neocloud.programme import load_programme

        programme = load_programme(scenario)
        typer.echo(f"ok: {scenario} ({programme.spec.name}, programme of {len(programme.campuses)} campuses)")
        return
    loaded = load(scenario)
    typer.echo(f"ok: {scenario} ({loaded.name})")


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the scenario format."""
    from neocloud.scenario import Scenario

    typer.echo(json.dumps(Scenario.model_json_schema(), indent=2))


@app.command("size")
def size_command(
    accelerator: Annotated[str, typer.Option(help="Accelerator id, e.g. h100-sxm or gb200.")],
    count: Annotated[int, typer.Option(help="Number of accelerators.")],
    climate: Annotated[str | None, typer.Option(help="Climate id (default abilene-tx, a hot design day).")] = None,
    cooling: Annotated[str | None, typer.Option(help="Cooling id (default direct-liquid).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Design only: the power, racks and PUE of a campus of COUNT accelerators."""
    from neocloud.design import size as design_size

    result = design_size(accelerator, count, climate=climate, cooling=cooling)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        print_summary(result, f"{count:,} {accelerator}", full=True)
