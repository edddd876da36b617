"""Backtest: what the model predicts for the public figures it ships, against what was reported.

Reads ``neocloud/reference/power.csv`` (campus power), ``costs.csv`` (capex and cost per GPU-hour),
``finance.csv`` (deal and company figures, predicted by the example scenarios) and the catalog's
``training_runs`` and ``inference_results`` tables, predicts each figure through the public API
(``design.size``, ``pipeline.run``, ``programme.run_programme``, ``compute``, ``inference``) and returns one
row per figure with the signed error ``(predicted - reported) / reported``. Fitted figures (training runs,
serving results) are predicted leave-one-out: by coefficients fitted to the other figures, never in sample.
Method and results: docs/methods/backtest.md.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neocloud import compute, inference, reliability
from neocloud.catalog import Catalog, load_catalog
from neocloud.design import default_system, size
from neocloud.load import validate
from neocloud.pipeline import run

REFERENCE = Path(__file__).parent / "reference"
COLUMNS = ["kind", "name", "predicted", "reported", "unit", "error_frac", "source", "id", "basis"]

# Which design figure a reported power is compared with, by the basis the report states. A figure whose
# basis was not stated ("unspecified") is compared with facility power in an ordinary hour at full IT load:
# what a cluster's announced "power capacity" means in practice (docs/methods/design.md).
POWER_BASIS = {"it": "it_power_mw", "facility": "facility_power_mw", "unspecified": "facility_power_mw",
               "facility_peak": "facility_peak_power_mw", "utility": "utility_capacity_mw"}
DEFAULT_REGION = "ercot-tx"


def read_reference(name: str) -> pd.DataFrame:
    """A shipped reference table (``power`` or ``costs``) as a DataFrame."""
    return pd.read_csv(REFERENCE / f"{name}.csv")


def _present(value: Any) -> bool:
    return not (value is None or (isinstance(value, float) and math.isnan(value)) or value == "")


def campus(name: str, system: str, systems: int, catalog: Catalog, cooling: str | None = None,
           climate: str | None = None, region: str | None = None) -> Any:
    """The smallest valid one-building campus scenario of ``systems`` identical systems."""
    data: dict[str, Any] = {
        "name": name,
        "site": {"location": "-", "climate": climate or "abilene-tx", "region": region or DEFAULT_REGION},
        "campus": {"phases": [{"name": "all", "system": system, "systems_per_building": int(systems)}]},
    }
    if cooling:
        data["campus"]["cooling"] = cooling
    return validate(data, f"<backtest {name}>", catalog=catalog)


def _row(kind: str, name: str, predicted: float, reported: float, unit: str, source: str,
         row_id: str, basis: str) -> dict[str, Any]:
    return {"kind": kind, "name": name, "predicted": float(predicted), "reported": float(reported),
            "unit": unit, "error_frac": (float(predicted) - float(reported)) / float(reported),
            "source": source, "id": row_id, "basis": basis}


def power_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """Campus power: design-stage MW for each reported fleet, compared by the reported kind of power."""
    out = []
    for ref in read_reference("power").to_dict("records"):
        basis = POWER_BASIS[ref["power_kind"]]
        cooling = ref["cooling"] if _present(ref["cooling"]) else None
        climate = ref["climate"] if _present(ref["climate"]) else None
        if _present(ref["system"]):
            scenario = campus(ref["id"], ref["system"], int(ref["system_count"]), catalog, cooling, climate)
            predicted = run(scenario, draws=1, seed=0, catalog=catalog).summary()[basis]
        else:
            design = size(ref["accelerator"], int(ref["accelerator_count"]), climate=climate, cooling=cooling,
                          catalog=catalog)
            predicted = design[basis]
        out.append(_row("power", ref["name"], predicted, ref["reported_mw"], "MW", ref["source"], ref["id"],
                        f"{basis} ({ref['power_kind']})"))
    return out


def _metric(metric: str, summary: dict[str, Any]) -> float:
    if metric == "capex_facility_usd_per_it_mw":
        return summary["capex_facility_usd"] / summary["it_power_mw"]
    if metric == "capex_usd_per_facility_gw":
        return summary["capex_usd"] / (summary["facility_power_mw"] / 1000.0)
    if metric == "capex_it_usd_per_accelerator":
        return summary["capex_it_usd"] / summary["accelerators"]
    return float(summary[metric])


def cost_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """Capex and cost per GPU-hour: the whole pipeline on a campus of the reported fleet."""
    out = []
    for ref in read_reference("costs").to_dict("records"):
        system = default_system(ref["accelerator"], catalog)
        per_system = catalog.value("systems", system, "accelerators_per_system")
        scenario = campus(ref["id"], system, math.ceil(ref["accelerator_count"] / per_system), catalog,
                          ref["cooling"], ref["climate"], ref["region"])
        summary = run(scenario, draws=1, seed=0, catalog=catalog).summary()
        kind = "gpu_hour" if ref["metric"] == "cost_usd_per_gpu_hour" else "capex"
        out.append(_row(kind, ref["name"], _metric(ref["metric"], summary), ref["reported"], ref["unit"],
                        ref["source"], ref["id"], ref["metric"]))
    return out


def training_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """Published training runs, each predicted by MFU coefficients fitted to the other runs (leave-one-out)."""
    if "training_runs" not in catalog.names:
        return []
    runs = catalog.table("training_runs")
    out = []
    for run_id, row in compute.leave_one_out(catalog).iterrows():
        ref = runs.loc[str(run_id)]
        unit = "GPU-hours" if row["metric"] == "gpu_hours" else "fraction"
        out.append(_row("training", str(ref.get("name", run_id)), row["predicted"], row["reported"], unit,
                        str(ref["source"]), str(run_id), f"{row['metric']} (leave-one-out)"))
    return out


# Serving: leave-one-out refits take about a minute; the result depends only on the catalog's tables,
# so it is kept per content of those tables.
_SERVING_CACHE: dict[int, pd.DataFrame] = {}
SERVING_TABLES = ("inference_results", "inference_parameters", "models", "accelerators", "systems", "scale_up")


def serving_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """Published serving results: fitted rows leave-one-out, held-out rows by the full fit."""
    if "inference_results" not in catalog.names:
        return []
    key = hash(tuple(int(pd.util.hash_pandas_object(catalog.table(name).astype(str)).sum())
                     for name in SERVING_TABLES))
    if key not in _SERVING_CACHE:
        _SERVING_CACHE[key] = inference.leave_one_out(catalog)
    refs = catalog.table("inference_results")
    out = []
    for row_id, row in _SERVING_CACHE[key].iterrows():
        ref = refs.loc[str(row_id)]
        fitted = str(ref["fitted"]).lower() == "true"
        name = f"{ref['model']} on {ref['accelerator']} ({ref['precision']}, {ref['scenario']}, " \
               f"{ref['input_tokens']:g}/{ref['output_tokens']:g} tokens)"
        out.append(_row("serving", name, row["predicted"], row["reported"], "tokens/s per accelerator",
                        str(ref["source"]), str(row_id), "leave-one-out" if fitted else "held out"))
    return out


def reliability_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """Published fleet reliability figures: the closed form at the generation's median rates.

    Nothing here is fitted; the ``basis`` column says which figures the rates or multipliers come from.
    """
    if "reliability_results" not in catalog.names:
        return []
    out = []
    for row_id, ref in catalog.table("reliability_results").iterrows():
        factor, _ = reliability.generation(catalog, str(ref["accelerator"]))
        system = default_system(str(ref["accelerator"]), catalog)
        job = reliability.job_reliability(catalog, float(ref["accelerators"]), factor,
                                          node_accelerators=reliability.failure_domain(catalog, system))
        metric = str(ref["metric"])
        predicted = (float(job["interruptions_per_day"]) * float(ref["days"]) if metric == "interruptions"
                     else float(job[metric]))
        unit = {"interruptions": "interruptions", "mtti_hours": "h", "goodput": "fraction"}[metric]
        out.append(_row("reliability", str(ref["name"]), predicted, ref["reported"], unit, str(ref["source"]),
                        str(row_id), f"{metric} ({ref['basis']})"))
    return out


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _monthly(path: Path, catalog: Catalog) -> tuple[Any, dict[str, Any]]:
    """Monthly flows (a Dataset with ``date``) and the summary of an example campus or programme."""
    from neocloud.finance.portfolio import roll_up
    from neocloud.load import is_programme_file
    from neocloud.programme import load_programme, run_programme

    if is_programme_file(path):
        programme = run_programme(load_programme(path), draws=1, seed=0)
        built = [campus for campus in programme.campus_results if campus is not None]
        return roll_up(built), programme.summary()
    results = run(path, draws=1, seed=0, catalog=catalog)
    return results.dataset, results.summary()


def finance_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """Deal and company figures: the example scenario named in each row, over its calendar window (sums of a
    monthly line, or EBITDA over revenue) or as a summary key. Rows whose example is not shipped (an
    installed package without ``examples/``) are skipped."""
    out = []
    cache: dict[str, tuple[Any, dict[str, Any]]] = {}
    for ref in read_reference("finance").to_dict("records"):
        path = EXAMPLES / str(ref["scenario"])
        if not path.exists():
            continue
        if ref["scenario"] not in cache:
            cache[ref["scenario"]] = _monthly(path, catalog)
        data, summary_ = cache[ref["scenario"]]
        metric = str(ref["metric"])
        if _present(ref["window_start"]):
            dates = data["date"].values.astype("datetime64[M]")
            inside = (dates >= np.datetime64(ref["window_start"], "M")) & (
                dates <= np.datetime64(ref["window_end"], "M")
            )
            if metric == "ebitda_margin":
                predicted = float(data["ebitda_usd"].values[0, inside].sum()) / float(
                    data["revenue_usd"].values[0, inside].sum()
                )
            else:
                predicted = float(data[metric].values[0, inside].sum())
            basis = f"{metric} {ref['window_start']} to {ref['window_end']}"
        else:
            predicted, basis = float(summary_[metric]), metric
        out.append(_row("finance", ref["name"], predicted, ref["reported"], ref["unit"], ref["source"],
                        ref["id"], basis))
    return out


def backtest(catalog: Catalog | None = None) -> pd.DataFrame:
    """Predicted against reported for every shipped public figure, one row each (see COLUMNS)."""
    catalog = catalog or load_catalog()
    rows = (power_rows(catalog) + cost_rows(catalog) + training_rows(catalog) + serving_rows(catalog)
            + reliability_rows(catalog) + finance_rows(catalog))
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(df: pd.DataFrame) -> dict[str, float]:
    """Median absolute error (fraction) per kind of figure."""
    groups = df.groupby("kind", sort=False)["error_frac"]
    return {str(kind): float(errors.abs().median()) for kind, errors in groups}
