"""``neocloud catalog [TABLE]`` and ``neocloud backtest``: the shipped data and how well it predicts."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated, Any

import typer

from neocloud.cli.root import app
from neocloud.cli.tables import parse_columns, print_table

if TYPE_CHECKING:
    import pandas as pd

    from neocloud.catalog import Catalog


def _plain(value: Any) -> Any:
    """A cell as a JSON-ready value (NaN -> None, numpy scalars -> Python)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _shown(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def source_titles(catalog: Catalog, cited: Any) -> str:
    """Titles (publisher, year) of the ';'-separated source ids in ``cited``; unknown ids stay as given."""
    sources = catalog.table("sources").set_index("id")
    titles = []
    for source_id in (part.strip() for part in str(cited or "").split(";")):
        if not source_id:
            continue
        if source_id in sources.index:
            row = sources.loc[source_id]
            titles.append(f"{row['title']} ({row['publisher']}, {row['year']})")
        else:
            titles.append(source_id)
    return "; ".join(titles)


def table_records(catalog: Catalog, name: str) -> list[dict[str, Any]]:
    """The rows of a table as JSON-ready dicts, with ``source_titles`` beside ``source``."""
    from neocloud.catalog import META_TABLES

    frame = catalog.table(name)
    frame = frame.reset_index() if name not in META_TABLES else frame
    records = []
    for record in frame.to_dict("records"):
        row = {str(key): _plain(value) for key, value in record.items()}
        if "source" in row and name not in META_TABLES:
            row["source_titles"] = source_titles(catalog, row["source"])
        records.append(row)
    return records


def print_frame(frame: pd.DataFrame, title: str, columns: str | None = None, keep: int = 1) -> None:
    """Print a DataFrame as a table that fits 80 columns (``columns``: the ones to show, comma-separated)."""
    headers = [str(column) for column in frame.columns]
    rows = [[_shown(value) for value in record] for record in frame.itertuples(index=False)]
    print_table(title, headers, rows, parse_columns(columns, headers), keep=keep)


ColumnsOption = Annotated[str | None, typer.Option(
    "--columns", help="Columns to show, comma-separated (default: those that fit 80 columns).")]


@app.command("catalog")
def catalog_command(
    table: Annotated[str | None, typer.Argument(help="Table to print; none lists the tables.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    columns: ColumnsOption = None,
) -> None:
    """List the catalog's tables, or print one table with its sources resolved to titles."""
    import pandas as pd

    from neocloud.catalog import load_catalog

    catalog = load_catalog()
    if table is None:
        counts = {name: len(catalog.table(name)) for name in catalog.names}
        if as_json:
            typer.echo(json.dumps(counts))
        else:
            listing = pd.DataFrame({"table": list(counts), "rows": list(counts.values())})
            print_frame(listing, "catalog tables")
        return
    records = table_records(catalog, table)  # an unknown table raises ScenarioError (exit 2)
    if as_json:
        typer.echo(json.dumps({"table": table, "rows": records}))
        return
    frame = pd.DataFrame(records)
    if "source_titles" in frame:
        frame["source"] = frame.pop("source_titles")
    print_frame(frame, f"{table} ({len(frame)} rows)", columns)


@app.command("backtest")
def backtest_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Predicted against reported for the shipped public figures, and the median error per kind."""
    from neocloud.backtest import backtest, summary

    frame = backtest()
    medians = summary(frame)
    if as_json:
        rows = [{key: _plain(value) for key, value in record.items()} for record in frame.to_dict("records")]
        typer.echo(json.dumps({"rows": rows, "median_abs_error_frac": medians}))
        return
    shown = frame[["kind", "name", "predicted", "reported", "unit", "error_frac", "basis"]].copy()
    shown["error_frac"] = shown["error_frac"].map(lambda value: f"{value:+.1%}")
    print_frame(shown, "backtest: predicted against reported")
    for kind, median in medians.items():
        typer.echo(f"median |error| {kind}: {median:.1%}")
