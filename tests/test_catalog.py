"""The shipped catalog: ids, sources, documented columns, plausible numbers, required rows."""

from __future__ import annotations

import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from neocloud import ScenarioError, load_catalog
from neocloud.catalog import META_TABLES
from neocloud.design import MONTH_COLUMNS

DATA = resources.files("neocloud.catalog") / "data"
TABLES = sorted(entry.name[:-4] for entry in DATA.iterdir()
                if entry.name.endswith(".csv") and entry.name[:-4] not in META_TABLES)
SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def raw(name: str) -> pd.DataFrame:
    with (DATA / f"{name}.csv").open(encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


SOURCES = raw("sources")
COLUMNS = raw("columns")


def test_there_are_tables() -> None:
    assert {"accelerators", "systems", "fabrics", "cooling", "climates", "regions", "cost_items",
            "parameters"} <= set(TABLES)


@pytest.mark.parametrize("name", TABLES)
def test_layout_ids_and_sources(name: str) -> None:
    frame = raw(name)
    assert list(frame.columns[:1]) == ["id"]
    assert list(frame.columns[-3:]) == ["source", "estimate", "notes"]
    assert len(frame) > 0
    bad = [value for value in frame["id"] if not SLUG.match(value)]
    assert not bad, f"{name}: ids not lower-case slugs: {bad}"
    repeated = sorted(frame["id"][frame["id"].duplicated()])
    assert not repeated, f"{name}: repeated ids {repeated}"
    assert set(frame["estimate"]) <= {"true", "false"}, f"{name}: estimate must be true or false"
    known = set(SOURCES["id"])
    for row_id, cited in zip(frame["id"], frame["source"], strict=True):
        ids = [part.strip() for part in cited.split(";") if part.strip()]
        assert ids, f"{name}.{row_id}: no source"
        missing = [source_id for source_id in ids if source_id not in known]
        assert not missing, f"{name}.{row_id}: unknown source ids {missing}"


def test_sources_table() -> None:
    assert list(SOURCES.columns) == ["id", "title", "publisher", "year", "url"]
    assert not SOURCES["id"].duplicated().any(), sorted(SOURCES["id"][SOURCES["id"].duplicated()])
    assert all(SLUG.match(value) for value in SOURCES["id"])
    assert all(value.strip() for value in SOURCES["title"])


@pytest.mark.parametrize("name", TABLES)
def test_columns_documented_and_typed(name: str) -> None:
    frame = raw(name)
    documented = COLUMNS[COLUMNS["table"] == name]
    assert not documented["column"].duplicated().any(), f"{name}: a column documented twice"
    assert set(documented["column"]) == set(frame.columns), (
        f"{name}: undocumented {sorted(set(frame.columns) - set(documented['column']))}, "
        f"documented but absent {sorted(set(documented['column']) - set(frame.columns))}")
    for column, dtype in zip(documented["column"], documented["dtype"], strict=True):
        assert dtype in {"str", "float", "int", "bool"}, f"{name}.{column}: dtype {dtype}"
        cells = [cell for cell in frame[column] if cell != ""]
        if dtype in {"float", "int"}:
            values = pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce")
            assert not values.isna().any(), f"{name}.{column}: not numeric: {cells}"
            if dtype == "int":
                assert np.all(values == np.round(values)), f"{name}.{column}: not whole numbers"
        elif dtype == "bool":
            assert set(cells) <= {"true", "false"}, f"{name}.{column}: not true/false"


def test_columns_table_covers_only_real_tables() -> None:
    assert set(COLUMNS["table"]) <= set(TABLES) | set(META_TABLES)


REQUIRED = {
    "accelerators": "a100-sxm h100-sxm h200-sxm b200 b300 gb200 gb300 mi300x mi355x",
    "systems": "hgx-a100-8 hgx-h100-8 hgx-h200-8 hgx-b200-8 gb200-nvl72 gb300-nvl72 mi300x-8 mi355x-8",
    "fabrics": "ib-ndr-400 ib-xdr-800 spectrum-x-800 roce-400 nvme-flash",
    "cooling": "air rdhx direct-liquid immersion",
    "climates": "abilene-tx essex-uk narvik-no memphis-tn phoenix-az dublin-ie frankfurt-de singapore "
                "new-carlisle-in atlanta-ga columbus-oh dallas-tx shackelford-tx milam-tx dona-ana-nm "
                "lordstown-oh mount-pleasant-wi reykjavik-is",
    "regions": "ercot-tx uk no4 tva-tn aps-az ie de sg pjm miso spp-nm is",
    "cost_items": "land_acres_per_mw fitout_usd_per_rack soft_cost_frac it_maintenance_frac_per_year "
                  "facility_maintenance_frac_per_year staff_usd_per_mw_it_year insurance_frac_per_year "
                  "property_tax_frac_per_year",
    "parameters": "electrical_loss_frac utility_capacity_margin it_load_frac_training it_load_frac_inference "
                  "misc_it_frac",
}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_ids(catalog, name: str) -> None:
    missing = sorted(set(REQUIRED[name].split()) - set(catalog.ids(name)))
    assert not missing, f"{name}: missing {missing}"


def between(frame: pd.DataFrame, column: str, low: float, high: float, allow_empty: bool = False) -> None:
    values = frame[column].astype(float)
    if allow_empty:
        values = values.dropna()
    assert values.notna().all(), f"{column}: empty cells"
    outside = values[(values < low) | (values > high)]
    assert outside.empty, f"{column} outside [{low}, {high}]: {outside.to_dict()}"


def test_accelerators_plausible(catalog) -> None:
    frame = catalog.table("accelerators")
    between(frame, "tdp_w", 300, 2000)
    between(frame, "bf16_tflops", 100, 5000)
    between(frame, "fp8_tflops", 400, 10000, allow_empty=True)
    between(frame, "fp4_tflops", 2000, 30000, allow_empty=True)
    between(frame, "hbm_gb", 40, 400)
    between(frame, "hbm_tb_per_s", 1, 20)
    between(frame, "price_usd", 5000, 100000)
    between(frame, "release_year", 2018, 2030)
    both = frame.dropna(subset=["fp8_tflops"])
    assert (both["fp8_tflops"] >= 1.9 * both["bf16_tflops"]).all(), "dense FP8 is about twice BF16"


def test_systems_plausible(catalog) -> None:
    systems = catalog.table("systems")
    accelerators = catalog.table("accelerators")
    assert set(systems["accelerator"]) <= set(accelerators.index)
    between(systems, "racks_per_system", 0.05, 1)
    assert (systems["typical_power_kw"] <= systems["max_power_kw"]).all()
    assert (systems["typical_power_kw"] >= 0.6 * systems["max_power_kw"]).all()
    for system_id, row in systems.iterrows():
        gpu_kw = row["accelerators_per_system"] * accelerators.loc[row["accelerator"], "tdp_w"] / 1000
        # GPUs are 45-90% of a system's maximum input; the rest: CPUs, memory, NICs, switches, fans
        assert 0.45 * row["max_power_kw"] <= gpu_kw <= 0.9 * row["max_power_kw"], system_id
        gpu_price = row["accelerators_per_system"] * accelerators.loc[row["accelerator"], "price_usd"]
        assert gpu_price < row["price_usd"] < 2.5 * gpu_price, system_id
    for system_id in ("gb200-nvl72", "gb300-nvl72"):
        assert systems.loc[system_id, "racks_per_system"] == 1
        assert bool(systems.loc[system_id, "liquid_cooling_required"])


def test_fabrics_plausible(catalog) -> None:
    frame = catalog.table("fabrics")
    assert set(frame["kind"]) <= {"network", "storage"}
    between(frame, "power_w_per_accelerator", 1, 300)
    between(frame, "capex_usd_per_accelerator", 100, 30000)


def test_cooling_plausible(catalog) -> None:
    frame = catalog.table("cooling")
    between(frame, "pue_min", 1.03, 1.5)
    between(frame, "pue_max", 1.1, 2.0)
    assert (frame["pue_max"] > frame["pue_min"]).all()
    between(frame, "pue_slope_per_c", 0, 0.05)
    between(frame, "free_cooling_below_c", -10, 35)
    between(frame, "max_rack_kw", 10, 500)
    between(frame, "wue_l_per_kwh", 0, 3)
    between(frame, "facility_capex_usd_per_mw_it", 5e6, 30e6)
    parameters = catalog.table("parameters")
    loss = parameters.loc["electrical_loss_frac", "value"]
    assert (frame["pue_min"] > 1 + loss).all(), "PUE includes the electrical losses"
    assert frame.loc["direct-liquid", "pue_min"] < frame.loc["air", "pue_min"]
    assert frame.loc["direct-liquid", "max_rack_kw"] >= 140, "must cool a GB300 NVL72 rack"


def test_climates_plausible(catalog) -> None:
    frame = catalog.table("climates")
    months = list(MONTH_COLUMNS)
    for column in months:
        between(frame, column, -30, 40)
    between(frame, "latitude", -90, 90)
    between(frame, "daily_range_c", 2, 25)
    assert (frame["design_day_c"] > frame[months].max(axis=1)).all(), "design day hotter than any month"
    north = frame[frame["latitude"] > 23.5]
    assert (north["jul_c"] > north["jan_c"]).all(), "northern summers are warmer"


def test_regions_plausible(catalog) -> None:
    frame = catalog.table("regions")
    between(frame, "power_price_usd_per_mwh", 20, 400)
    between(frame, "carbon_g_per_kwh", 0, 1000)
    between(frame, "gas_price_usd_per_mmbtu", 0.5, 30, allow_empty=True)
    between(frame, "tou_peak_multiplier", 1, 5)
    between(frame, "tou_peak_start_h", 0, 24)
    between(frame, "tou_peak_end_h", 0, 24)
    assert (frame["tou_peak_end_h"] >= frame["tou_peak_start_h"]).all()
    between(frame, "land_usd_per_acre", 100, 1e7)
    between(frame, "corporate_tax_rate", 0, 0.5)


def test_cost_items_and_parameters_plausible(catalog) -> None:
    costs = catalog.table("cost_items")
    assert set(costs["kind"]) <= {"capex", "opex"}
    assert costs["value"].astype(float).ge(0).all()
    for item in costs.index:
        if item.endswith("_frac") or "_frac_" in item:
            assert float(costs.loc[item, "value"]) < 0.5, item
    parameters = catalog.table("parameters")["value"].astype(float)
    assert 0 < parameters["electrical_loss_frac"] < 0.15
    assert 1 <= parameters["utility_capacity_margin"] < 2
    assert 0 < parameters["it_load_frac_inference"] <= parameters["it_load_frac_training"] <= 1
    assert 0 <= parameters["misc_it_frac"] < 0.2


def test_row_lookup_and_errors(catalog) -> None:
    assert catalog.value("accelerators", "h100-sxm", "tdp_w") == 700
    with pytest.raises(ScenarioError, match="did you mean 'gb200-nvl72'"):
        catalog.row("systems", "gb201-nvl72", field="campus.phases.0.system")


def test_catalog_reloads_identically() -> None:
    first, second = load_catalog(), load_catalog()
    for name in TABLES:
        pd.testing.assert_frame_equal(first.table(name), second.table(name))


# --- columns.csv enforces itself: dtype, unit and range at load ---------------------------------------------


@pytest.mark.parametrize("name", TABLES)
def test_every_number_column_declares_its_range(name: str) -> None:
    documented = COLUMNS[COLUMNS["table"] == name]
    for row in documented.itertuples(index=False):
        if row.dtype in {"float", "int"}:
            assert row.min != "" and row.max != "", f"{name}.{row.column}: no range"
            assert float(row.min) < float(row.max), f"{name}.{row.column}: empty range"
        else:
            assert row.min == "" and row.max == "", f"{name}.{row.column}: a range on a {row.dtype}"


def test_shipped_cells_out_of_range_name_file_row_and_column() -> None:
    from neocloud.catalog import check_table, column_types

    frame = raw("cooling").replace({"": None})
    frame.loc[frame["id"] == "air", "pue_min"] = "0.5"
    with pytest.raises(ScenarioError) as caught:
        check_table("cooling", frame, column_types()["cooling"])
    assert str(caught.value).startswith("cooling.csv: cooling.air.pue_min: '0.5': is not a number")
    frame = raw("cooling").assign(colour="red")
    with pytest.raises(ScenarioError, match=r"colour.*not declared"):
        check_table("cooling", frame, column_types()["cooling"])


def test_user_folder_rows_name_their_file(tmp_path) -> None:
    (tmp_path / "cooling.csv").write_text("id,pue_min\ndirect-liquid,0.2\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_catalog([tmp_path])
    assert str(caught.value).startswith(f"{tmp_path / 'cooling.csv'}: catalog.cooling.0.pue_min")


@pytest.mark.parametrize("cell", ["abc", "0.5", "3.5", ".nan"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_override_is_one_line_and_exit_2(tmp_path, capsys, command: str, cell: str) -> None:
    from neocloud.cli import main

    path = tmp_path / "s.yaml"
    path.write_text("name: t\nsite: {location: Abilene, climate: abilene-tx, region: ercot-tx}\n"
                    "campus: {phases: [{name: one, system: gb200-nvl72, buildings: 1, systems_per_building: 1}]}\n"
                    f"catalog: {{cooling: [{{id: direct-liquid, pue_min: {cell}}}]}}\n", encoding="utf-8")
    args = [command, str(path)] + (["--no-store"] if command == "run" else [])
    with pytest.raises(SystemExit) as exited:
        main(args)
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert "catalog.cooling.0.pue_min" in err and ("from 1 to 3" in err or cell == ".nan")


def test_scenario_defaults_are_cited_catalog_rows() -> None:
    from neocloud.scenario.buildout import PhaseSchedule
    from neocloud.scenario.finance import Finance
    from neocloud.scenario.workload import Workload

    rows = raw("defaults").set_index("id")
    assert (rows["source"] != "").all()
    models = {"finance": Finance(), "workload": Workload(), "phase": PhaseSchedule()}
    for field, row in rows.iterrows():
        section, name = field.split(".")
        if section in models:
            assert getattr(models[section], name) == float(row["value"]), field
    assert Finance().utilisation == float(rows.loc["finance.utilisation", "value"]) == 0.8


# --- read without pandas: the same cells, of the same types, as a pandas reading ------------------------


def _same_cell(ours: object, theirs: object) -> bool:
    if isinstance(theirs, float) and np.isnan(theirs):
        return isinstance(ours, float) and np.isnan(ours) and type(ours) is type(theirs)
    return type(ours) is type(theirs) and ours == theirs


@pytest.mark.parametrize("name", TABLES)
def test_rows_are_the_cells_pandas_reads(name: str) -> None:
    catalog = load_catalog()
    with (DATA / f"{name}.csv").open(encoding="utf-8") as handle:
        frame = pd.read_csv(handle, skipinitialspace=True)
    frame.columns = [str(column).strip() for column in frame.columns]
    frame["id"] = frame["id"].astype(str).str.strip()
    frame = frame.set_index("id")
    assert catalog.ids(name) == list(frame.index)
    pd.testing.assert_frame_equal(catalog.table(name), frame)
    for row_id in frame.index:
        row, expected = catalog.row(name, row_id), frame.loc[row_id]
        assert row.name == row_id and list(row) == list(expected.index)
        for column, cell in expected.items():
            assert _same_cell(row[column], cell), (name, row_id, column, row[column], cell)


def test_rows_of_an_extended_catalog_are_its_table_cells() -> None:
    catalog = load_catalog(overrides={"accelerators": [{"id": "h100-sxm", "tdp_w": 800},
                                                       {"id": "new-chip", "name": "New", "vendor": "X",
                                                        "tdp_w": 500, "bf16_tflops": 1000.0,
                                                        "hbm_gb": 96, "hbm_tb_per_s": 4.0,
                                                        "price_usd": 20000, "release_year": 2026}]})
    frame = catalog.table("accelerators")
    assert catalog.ids("accelerators") == list(frame.index)
    assert catalog.ids("accelerators")[-2:] == ["h100-sxm", "new-chip"]
    for row_id in frame.index:
        for column, cell in frame.loc[row_id].items():
            assert _same_cell(catalog.row("accelerators", row_id)[column], cell), (row_id, column)
    assert catalog.value("accelerators", "h100-sxm", "tdp_w") == 800.0
    assert catalog.has("accelerators", "new-chip") and not catalog.has("accelerators", "nope")


def test_check_table_reads_plain_columns() -> None:
    from neocloud.catalog import check_table, column_types

    columns = {"id": ["air", "liquid"], "pue_min": ["1.2", "abc"]}
    with pytest.raises(ScenarioError) as caught:
        check_table("cooling", columns, column_types()["cooling"])
    assert str(caught.value).startswith("cooling.csv: cooling.liquid.pue_min: 'abc': is not a number")
    check_table("cooling", {"id": ["air"], "pue_min": [None]}, column_types()["cooling"])
