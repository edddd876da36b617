"""What the dashboard shows beside the raw summary: the figures as the formatting layer writes them (the
same text as the CLI and the report) and each phase's timeline for the Gantt chart."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neocloud import formatting
from neocloud.calendar import months_between


def figures(summary: dict[str, Any], start: str) -> list[dict[str, str]]:
    """The headline figures: key, stage, label, value (the median) and, with draws, the P10–P90 range."""
    out = []
    for row in formatting.summary_rows(summary, start):
        unit = formatting.unit(row.key)
        spread = ""
        if f"{row.key}_p10" in summary and summary[f"{row.key}_p10"] != summary[f"{row.key}_p90"]:
            low, high = (formatting.format_value(summary[f"{row.key}_{end}"], unit, start) for end in ("p10", "p90"))
            spread = f"P10–P90 {low} – {high}"
        out.append({"key": row.key, "stage": row.stage, "label": row.label,
                    "value": formatting.format_value(summary.get(row.key), unit, start), "range": spread,
                    "description": row.description})
    return out


def _month(start: str, values: xr.DataArray, index: int) -> str | None:
    value = float(np.nanmedian(values.values[:, index])) if np.isfinite(values.values[:, index]).any() else None
    return None if value is None else formatting.add_months(start, round(value))


def phase_timeline(scenario: Any, dataset: xr.Dataset) -> list[dict[str, Any]]:
    """Per phase (median draw): construction start, construction ready, energised and fully online months
    (``YYYY-MM``; None where it does not happen within the horizon)."""
    start = str(scenario.start)
    rows = []
    for index, phase in enumerate(scenario.campus.phases):
        begun = phase.schedule.construction_start or start
        rows.append({
            "phase": phase.name,
            "construction_start": formatting.add_months(start, months_between(start, begun)),
            "construction_ready": _month(start, dataset["phase_construction_ready_month"], index),
            "energised": _month(start, dataset["phase_energised_month"], index),
            "online": _month(start, dataset["phase_online_month"], index),
        })
    return rows
