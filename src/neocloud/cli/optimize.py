"""``neocloud optimize``: where and when to build, from a portfolio file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from neocloud.cli.progress import steps
from neocloud.cli.root import app
from neocloud.errors import require_extra
from neocloud.io import write_atomic

MAX_TIME_LIMIT_S = 86_400.0


def _print(result: dict[str, Any], name: str) -> None:
    console = Console()
    gap = result["gap"]
    console.print(
        f"{name}: {result['status']}, objective {result['objective']} = "
        f"{result['objective_usd'] or 0:,.0f} USD, gap {gap if gap is None else f'{gap:.2%}'}, "
        f"solved in {result['solve_seconds']:.1f} s"
    )
    table = Table(title="plan")
    for column in ("site", "design", "buildings", "start_quarter", "online_quarter"):
        table.add_column(column)
    for row in result["plan"]:
        table.add_row(
            *(
                str(row[column])
                for column in ("site", "design", "buildings", "start_quarter", "online_quarter")
            )
        )
    console.print(table)
    realised = result["realised"] or {}
    console.print(
        f"realised: {realised.get('accelerators', 0):,} accelerators, "
        f"{realised.get('capex_usd') or 0:,.0f} USD capex, "
        f"{realised.get('opex_usd_per_year') or 0:,.0f} USD/year opex"
    )
    console.print(result["message"])


@app.command("optimize")
def optimize_command(
    portfolio: Annotated[Path, typer.Argument(help="Portfolio YAML file (kind: portfolio).")],
    time_limit: Annotated[
        float | None,
        typer.Option("--time-limit", min=0.1, max=MAX_TIME_LIMIT_S, help="Solver time limit (seconds)."),
    ] = None,
    gap: Annotated[
        float | None,
        typer.Option("--gap", min=0.0, max=1.0, help="Relative MIP gap at which to stop (fraction)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[Path | None, typer.Option(help="Folder for report.html and plan.json.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Write HiGHS's solver log to standard error.")
                       ] = False,
) -> None:
    """Choose sites, designs and phasing (a MILP on HiGHS) and run the plan through the pipeline."""
    require_extra("opt", "neocloud optimize")
    from neocloud.optimize import load_portfolio, optimize
    from neocloud.report.optimize import render_optimization

    loaded = load_portfolio(portfolio)
    with steps(f"optimize {loaded.name}", quiet=as_json or verbose) as say:
        result = optimize(loaded, time_limit=time_limit, gap=gap, verbose=verbose, progress=say)
    if out is not None:
        write_atomic(out / "plan.json", json.dumps(result, indent=2, default=float) + "\n")
        write_atomic(out / "report.html", render_optimization(result, loaded))
    if as_json:
        typer.echo(json.dumps(result, default=float))
        return
    _print(result, loaded.name)
    if out is not None:
        typer.echo(f"wrote {out}/plan.json, {out}/report.html")
