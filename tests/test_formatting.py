"""The formatting layer and the variables registry: labels, units and text every face shares."""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np
import pytest

from neocloud import run
from neocloud.cli import main
from neocloud.formatting import format_key, format_value, grouped_rows, money, significant, summary_rows
from neocloud.programme import load_programme, run_programme
from neocloud.report.document import glossary, key_figures

from .conftest import EXAMPLES

with (resources.files("neocloud.catalog") / "data" / "variables.csv").open(encoding="utf-8") as _handle:
    REGISTRY = list(csv.DictReader(_handle))
NAMES = {row["name"] for row in REGISTRY}
STAGES = {"scenario", "realise", "design", "buildout", "energy", "compute", "reliability", "finance", "inference",
          "programme"}


def _base_keys(summary: dict) -> set[str]:
    return {key for key in summary if not key.endswith(("_p10", "_p90"))}


def test_registry_has_the_agreed_columns_and_one_row_per_name() -> None:
    assert list(REGISTRY[0]) == ["name", "stage", "dims", "unit", "summary", "contract", "additive", "optional",
                                 "label", "headline", "description"]
    assert len(NAMES) == len(REGISTRY)
    for row in REGISTRY:
        assert row["stage"] in STAGES, row
        assert row["label"] and row["description"] and row["unit"], row
        assert row["summary"] in ("0", "1") and row["optional"] in ("0", "1") and row["headline"] in ("0", "1")
        assert row["contract"].isdigit() and row["additive"].isdigit(), row


def test_every_campus_summary_key_has_a_registry_row() -> None:
    summary = run(EXAMPLES / "loughton.yaml", draws=4).summary()
    assert _base_keys(summary) <= NAMES, sorted(_base_keys(summary) - NAMES)
    abilene = run(EXAMPLES / "abilene.yaml").summary()
    assert _base_keys(abilene) <= NAMES, sorted(_base_keys(abilene) - NAMES)


@pytest.mark.parametrize("name", ["stargate-programme.yaml", "chip-fabs.yaml"])
def test_every_programme_summary_key_has_a_registry_row(name: str) -> None:
    summary = run_programme(load_programme(EXAMPLES / name)).summary()
    assert _base_keys(summary) <= NAMES, sorted(_base_keys(summary) - NAMES)


def test_additive_places_give_the_pipeline_list() -> None:
    from neocloud.pipeline import ADDITIVE_KEYS

    additive = sorted((int(row["additive"]), row["name"]) for row in REGISTRY if row["additive"] != "0")
    assert tuple(name for _, name in additive) == ADDITIVE_KEYS
    assert [place for place, _ in additive] == list(range(1, len(additive) + 1))


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (32_817_370_850.0, "USD", "$32.8B"),
        (3_747_360_707.0, "USD", "$3.75B"),
        (345_200_000.0, "USD/year", "$345M/yr"),
        (-560_000_000.0, "USD", "-$560M"),
        (2.8267, "USD/GPU-hour", "$2.83/GPU-h"),
        (0.1717, "fraction/year", "17.2%"),
        (0.35, "fraction", "35.0%"),
        (1.3575828, "ratio", "1.36"),
        (399_744, "count", "399,744"),
        (3081.4169, "count", "3,081"),
        (776.83584, "MW", "777 MW"),
        (1044.378, "MW", "1,044 MW"),
        (5_703_783.65, "MWh/year", "5.70 million MWh/yr"),
        (189.31, "1/day", "189 per day"),
        (None, "USD", "–"),
        (float("nan"), "MW", "–"),
    ],
)
def test_format_value(value: object, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_months_show_the_date_beside_the_month_number() -> None:
    assert format_value(12, "month", "2024-06") == "2025-06 (month 12)"
    assert format_value(28, "month", "2024-06") == "2026-10 (month 28)"
    assert format_value(5, "month") == "month 5"


def test_draws_show_p10_p50_p90_in_one_cell_with_the_unit_once() -> None:
    summary = {"capex_usd": 2.17e9, "capex_usd_p10": 2.10e9, "capex_usd_p90": 2.24e9,
               "first_power_month": 16, "first_power_month_p10": 16, "first_power_month_p90": 20,
               "it_power_mw": 48.0, "it_power_mw_p10": 48.0, "it_power_mw_p90": 48.0}
    assert format_key(summary, "capex_usd") == "$2.10B – $2.17B – $2.24B"
    assert format_key(summary, "first_power_month", "2025-09") == "2027-01 – 2027-01 – 2027-05 (month 16–20)"
    assert format_key(summary, "it_power_mw") == "48.0 MW"  # no spread: one figure


def test_significant_figures() -> None:
    assert significant(999_360, 3) == "999,000"
    assert significant(0.004167, 3) == "0.00417"
    assert money(12_345) == "$12.3k"


def test_summary_rows_are_grouped_by_stage_in_pipeline_order() -> None:
    summary = run(EXAMPLES / "abilene.yaml").summary()
    rows = summary_rows(summary, "2024-06")
    assert 20 <= len(rows) <= 32
    stages = [title for title, _ in grouped_rows(rows)]
    assert stages == ["Design", "Build-out", "Energy", "Compute", "Reliability", "Finance"]
    every = summary_rows(summary, "2024-06", headline=False)
    assert len(every) == len(_base_keys(summary)) - 2  # all but scenario and draws


def test_run_prints_about_thirty_labelled_rows_within_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", str(EXAMPLES / "abilene.yaml"), "--no-store"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert len(lines) <= 45
    summary = run(EXAMPLES / "abilene.yaml").summary()
    capex, irr = format_key(summary, "capex_usd"), format_key(summary, "equity_irr")
    assert capex.startswith("$") and capex.endswith("B") and irr.endswith("%")
    assert capex in out and irr in out and "2025-06 (month 12)" in out
    assert "capex_usd" not in out  # labels, not raw keys
    main(["run", str(EXAMPLES / "abilene.yaml"), "--no-store", "--all"])
    assert "Peak facility draw" in capsys.readouterr().out


def test_run_with_draws_prints_the_range_in_one_row(capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", str(EXAMPLES / "loughton.yaml"), "--no-store", "--draws", "20"])
    out = capsys.readouterr().out
    assert "P10 – P50 – P90" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    capex = next(line for line in out.splitlines() if line.strip().startswith("Capex  "))
    assert capex.count("$") == 3


def test_report_labels_figures_and_has_a_glossary() -> None:
    results = run(EXAMPLES / "abilene.yaml")
    summary = results.summary()
    figures = {figure["key"]: figure for figure in key_figures(summary, "2024-06")}
    assert figures["equity_irr"]["value"] == f"{100 * summary['equity_irr']:.1f}%"
    assert figures["capex_usd"]["value"] == f"${summary['capex_usd'] / 1e9:.1f}B"
    assert figures["first_power_month"]["value"] == "2025-06 (month 12)"
    assert all(figure["label"] != key for key, figure in figures.items())
    entries = {entry["key"]: entry for entry in glossary(summary)}
    assert "ordinary hour" in entries["facility_power_mw"]["description"]
    assert "design-day" in entries["facility_peak_power_mw"]["description"]
    assert "peak_facility_power_mw" in entries["peak_facility_draw_mw"]["description"]


def test_ashburn_runs_on_shipped_data_only() -> None:
    summary = run(EXAMPLES / "ashburn.yaml").summary()
    assert summary["accelerators"] == 43_200
    assert 1.0 < summary["pue"] < summary["design_pue"]
    assert summary["cost_usd_per_gpu_hour"] > 0


def test_the_documented_add_a_site_example_runs_and_the_report_marks_user_rows(tmp_path) -> None:
    import re

    from neocloud.report import render

    text = (EXAMPLES.parent / "docs" / "methods" / "catalog.md").read_text(encoding="utf-8")
    block = re.search(r"## Adding a site.*?```yaml\n(.*?)```", text, re.S).group(1)
    path = tmp_path / "reno.yaml"
    path.write_text(block, encoding="utf-8")
    results = run(path)
    assert results.summary()["accelerators"] == 21_600
    page = render(results)
    assert page.count(f'<span class="user">user</span> ({path})') == 2  # the climate and the region


def test_a_months_own_range_shapes_the_hourly_year(catalog) -> None:
    from neocloud.energy import hourly_temperature_c

    row = catalog.row("climates", "ashburn-va")
    hours = hourly_temperature_c(row).reshape(365, 24)
    july = hours[196]  # 16 July: mid-month, so the month's own normals
    assert july.max() == pytest.approx(float(row["jul_max_c"]), abs=0.3)
    assert july.min() == pytest.approx(float(row["jul_min_c"]), abs=0.3)
    flat = catalog.row("climates", "abilene-tx")  # no maxima and minima: one range all year
    flat_hours = hourly_temperature_c(flat).reshape(365, 24)
    assert np.ptp(flat_hours[15]) == pytest.approx(np.ptp(flat_hours[196]), rel=1e-6)


def test_the_programme_report_maps_its_campuses_on_plain_coordinates() -> None:
    from neocloud.report.programme import campus_coordinates, render_programme

    results = run_programme(load_programme(EXAMPLES / "stargate-programme.yaml"))
    points = campus_coordinates(results)
    assert len(points) == len(results.programme.campuses)
    abilene = next(point for point in points if point["name"].startswith("Stargate Abilene"))
    assert (abilene["latitude"], abilene["longitude"]) == pytest.approx((32.41, -99.68))
    page = render_programme(results)
    assert "Where the campuses are" in page and "geo" not in page.split("Where the campuses are")[1][:2000]
    assert "<td>Capex</td><td>$" in page  # labelled, formatted key figures


def test_every_climate_has_coordinates_and_market_rows_have_their_normals(catalog) -> None:
    climates = catalog.table("climates")
    assert climates["longitude"].between(-180, 180).all() and climates["latitude"].between(-90, 90).all()
    markets = ["ashburn-va", "san-jose-ca", "hillsboro-or", "chicago-il", "amsterdam-nl", "london-uk",
               "stockholm-se", "oslo-no", "madrid-es", "milan-it", "tokyo-jp", "johor-my", "mumbai-in",
               "sydney-au", "riyadh-sa", "abu-dhabi-ae", "queretaro-mx", "sao-paulo-br"]
    months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    for market in markets:
        row = climates.loc[market]
        highs = np.array([row[f"{month}_max_c"] for month in months], dtype=float)
        lows = np.array([row[f"{month}_min_c"] for month in months], dtype=float)
        means = np.array([row[f"{month}_c"] for month in months], dtype=float)
        assert (highs > lows).all(), market
        np.testing.assert_allclose(means, (highs + lows) / 2, atol=0.051, err_msg=market)
        assert row["design_day_c"] > highs.max(), market
        assert 10 <= row["humidity_pct"] <= 100, market
        assert row["source"] and catalog.sources_of("climates", market), market
    regions = catalog.table("regions")
    for region in ["dominion-va", "caiso-ca", "pge-or", "comed-il", "nl", "se3", "no1", "es", "it", "jp-tepco",
                   "my-tnb", "in-mh", "au-nsw", "sa", "ae-ad", "mx", "br-se"]:
        assert len(catalog.sources_of("regions", region)) >= 2, region
        assert 20 <= regions.loc[region, "power_price_usd_per_mwh"] <= 400
