"""Figures people read: one formatting layer for the CLI, the report and the dashboard.

Labels, units, stages and descriptions of the summary keys come from the catalog's ``variables.csv``;
this module turns a raw summary (the JSON contract, unchanged) into labelled, grouped rows with units,
thousands separators, ``$32.8B``/``$345M``, percentages, ``2026-10 (month 12)`` dates and significant
figures by quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from neocloud.calendar import add_months
from neocloud.catalog import load_catalog

STAGE_TITLES = {
    "scenario": "Scenario", "design": "Design", "buildout": "Build-out", "energy": "Energy",
    "compute": "Compute", "reliability": "Reliability", "finance": "Finance", "inference": "Serving",
    "programme": "Programme",
}
MISSING = "–"
_MONEY_STEPS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))
DISPLAY_UNITS = {"1/day": "per day", "MWh/year": "MWh/yr", "t/year": "t/yr", "m3/year": "m³/yr",
                 "count/year": "per yr", "wafers/month": "wafers/mo", "text": "", "table": ""}
_MONEY_SUFFIX = {"USD": "", "USD/year": "/yr", "USD/GPU-hour": "/GPU-h", "USD/kW-month": "/kW-mo",
                 "USD/MW-year": "/MW-yr", "USD/Mtoken": "/M tokens"}


@lru_cache(maxsize=1)
def variables() -> dict[str, dict[str, Any]]:
    """The variables registry (``variables.csv``): key name -> its row (column -> cell), in registry order."""
    out: dict[str, dict[str, Any]] = {}
    for record in load_catalog().records("variables"):
        name = str(record["name"]).strip()
        out[name] = {**record, "name": name}
    return out


def _entry(key: str) -> dict[str, Any] | None:
    table = variables()
    base = key[: -len("_p10")] if key.endswith(("_p10", "_p90")) else key
    return dict(table[base]) if base in table else None


def label(key: str) -> str:
    """A reader's label for a summary key (the key itself when the registry has no row)."""
    entry = _entry(key)
    return str(entry["label"]) if entry else key


def unit(key: str) -> str:
    """The unit of a summary key from the registry (empty when unknown)."""
    entry = _entry(key)
    return str(entry["unit"]) if entry else ""


def description(key: str) -> str:
    """What a summary key means, from the registry (empty when unknown)."""
    entry = _entry(key)
    return str(entry["description"]) if entry else ""


def significant(value: float, digits: int = 3) -> str:
    """A number to ``digits`` significant figures, with thousands separators (``999,000``, ``2.44``)."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits - 1:
        return f"{round(value, digits - 1 - magnitude):,.0f}"
    return f"{value:,.{digits - 1 - magnitude}f}"


def quantity(value: float, unit_name: str, bare: bool = False) -> str:
    """A physical quantity: three significant figures (four from 1,000), millions and billions in words."""
    size = abs(value)
    if size >= 1e9:
        text = f"{significant(value / 1e9, 3)} billion"
    elif size >= 1e6:
        text = f"{significant(value / 1e6, 3)} million"
    else:
        text = significant(float(value), 4 if size >= 1000 else 3)
    return text if bare else f"{text} {unit_text(unit_name)}".strip()


def unit_text(unit_name: str) -> str:
    """A unit as printed after a figure (``MWh/yr``, ``per day``)."""
    return DISPLAY_UNITS.get(unit_name, unit_name)


def money(value: float, suffix: str = "") -> str:
    """Dollars: ``$32.8B``, ``$345M``, ``$12.3k``, ``$2.83``."""
    if value == 0:
        return f"$0{suffix}"
    sign = "-" if value < 0 else ""
    size = abs(value)
    for step, letter in _MONEY_STEPS:
        if size >= step:
            return f"{sign}${significant(size / step, 3)}{letter}{suffix}"
    return f"{sign}${size:,.2f}{suffix}"


def format_value(value: Any, unit_name: str = "", start: str | None = None, bare: bool = False) -> str:
    """One figure as text in its unit: money, percentages, dates beside month numbers, counts, quantities.

    ``bare`` leaves out the unit (and the month number beside a date), for ranges that print it once.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, list):
            return f"{len(value)} values"
        return str(value)
    if unit_name in _MONEY_SUFFIX:
        return money(float(value), "" if bare else _MONEY_SUFFIX[unit_name])
    if unit_name.startswith("fraction"):
        return f"{100 * value:.1f}%"
    if unit_name == "month":
        month = round(value)
        if not start:
            return str(month) if bare else f"month {month}"
        return add_months(start, month) if bare else f"{add_months(start, month)} (month {month})"
    if unit_name == "count":
        return f"{value:,.0f}"
    if unit_name == "year":
        return f"{value:.0f}"
    if unit_name == "ratio":
        return significant(float(value), 3)
    return quantity(float(value), unit_name, bare)


def format_key(summary: dict[str, Any], key: str, start: str | None = None) -> str:
    """The figure of ``key`` in a summary as text; with draws (``_p10``/``_p90`` twins) P10 – P50 – P90."""
    unit_name = unit(key)
    middle = summary.get(key)
    low, high = summary.get(f"{key}_p10", middle), summary.get(f"{key}_p90", middle)
    if low == high == middle:
        return format_value(middle, unit_name, start)
    parts = " – ".join(format_value(value, unit_name, start, bare=True) for value in (low, middle, high))
    if unit_name in _MONEY_SUFFIX:
        return f"{parts}{_MONEY_SUFFIX[unit_name]}".replace("/", " /", 1) if _MONEY_SUFFIX[unit_name] else parts
    if unit_name == "month":
        numbers = [MISSING if value is None else str(round(value)) for value in (low, high)]
        return f"{parts} (month {numbers[0]}–{numbers[1]})" if start else f"month {parts}"
    tail = "" if unit_name in ("count", "ratio", "year") or unit_name.startswith("fraction") else unit_text(
        unit_name)
    return f"{parts} {tail}".strip()


@dataclass(frozen=True)
class Row:
    """One labelled figure of a summary."""

    key: str
    stage: str
    label: str
    text: str
    description: str


def summary_rows(summary: dict[str, Any], start: str | None = None, headline: bool = True) -> list[Row]:
    """The figures of a summary as labelled rows in stage order (registry order within a stage).

    ``headline`` keeps the registry's headline keys (about 30); otherwise every key the summary has.
    Keys the registry does not know come last, under their own names.
    """
    table = variables()
    rows = []
    for name, entry in table.items():
        if name not in summary or entry["stage"] == "scenario":
            continue
        if headline and int(entry["headline"]) != 1:
            continue
        rows.append(Row(name, str(entry["stage"]), str(entry["label"]), format_key(summary, name, start),
                        str(entry["description"])))
    if not headline:
        for name in summary:
            if name not in table and not name.endswith(("_p10", "_p90")):
                rows.append(Row(name, "other", name, format_key(summary, name, start), ""))
    return rows


def grouped_rows(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    """Rows grouped by stage, in pipeline order, each group under its stage's title."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.stage, []).append(row)
    return [(STAGE_TITLES.get(stage, stage.title()), items) for stage, items in groups.items()]
