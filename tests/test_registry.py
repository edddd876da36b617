"""The variables registry as a contract: stages read what they declare and make what the registry lists."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import xarray as xr

from neocloud import pipeline as pipeline_module
from neocloud import run
from neocloud.registry import (
    PIPELINE_STAGES,
    UNITS,
    ContractError,
    additive_keys,
    check_units,
    contract_keys,
    main,
    makes,
    markdown,
    variables,
)

from .conftest import EXAMPLES, ROOT

ARCHITECTURE = ROOT / "docs" / "architecture.md"
GENERATED_FROM = "## Stages, what they read and what they make"


@pytest.fixture(scope="module")
def loughton() -> xr.Dataset:
    """Loughton's Dataset: it has debt tranches and contracts, so the optional variables are there."""
    return run(EXAMPLES / "loughton.yaml", draws=3).dataset


def test_the_whole_pipeline_runs_under_the_check(loughton: xr.Dataset) -> None:
    check_units(loughton)  # the run checked it too; every variable is registered with its unit
    registered = {name for name, entry in variables().items() if entry.in_dataset}
    assert set(loughton.variables) <= registered
    required = {name for name in registered if not variables()[name].optional}
    assert required <= set(loughton.variables), sorted(required - set(loughton.variables))


def test_every_optional_variable_appears_in_some_example(loughton: xr.Dataset) -> None:
    optional = {name for name, entry in variables().items() if entry.in_dataset and entry.optional}
    seen = set(loughton.variables) | set(run(EXAMPLES / "iren-childress.yaml").dataset.variables)
    assert optional <= seen, sorted(optional - seen)


def test_every_dataset_variable_has_a_unit_from_the_vocabulary(loughton: xr.Dataset) -> None:
    for name, variable in loughton.data_vars.items():
        assert variable.attrs.get("units") in UNITS, name
        assert variable.attrs["units"] == variables()[name].unit, name
        assert variable.dims == variables()[name].dims, name
    for entry in variables().values():
        assert entry.unit in UNITS, entry
        assert bool(entry.dims) == entry.in_dataset, entry


def test_a_foreign_unit_fails_the_check(loughton: xr.Dataset) -> None:
    broken = loughton.copy()
    broken["pue"] = broken["pue"].assign_attrs(units="-")
    with pytest.raises(ContractError, match="pue has units '-'"):
        check_units(broken)


def test_contract_and_additive_keys_come_from_the_registry_unchanged() -> None:
    assert pipeline_module.CONTRACT_KEYS == contract_keys() == (
        "accelerators", "systems", "racks", "it_power_mw", "facility_power_mw", "pue", "first_power_month",
        "full_capacity_month", "annual_energy_mwh", "capex_usd", "capex_it_usd", "capex_facility_usd",
        "opex_usd_per_year", "cost_usd_per_gpu_hour", "npv_usd", "equity_irr", "min_dscr", "peak_bf16_pflops",
    )
    assert pipeline_module.ADDITIVE_KEYS == additive_keys() == (
        "accelerators", "systems", "racks", "it_power_mw", "facility_power_mw", "facility_peak_power_mw",
        "utility_capacity_mw", "annual_energy_mwh", "capex_usd", "capex_it_usd", "capex_facility_usd",
        "capex_land_usd", "capex_power_usd", "opex_usd_per_year", "annualised_capex_usd_per_year",
        "energy_cost_usd_per_year", "co2_t_per_year", "peak_bf16_pflops", "serving_accelerators", "tokens_per_s",
    )


def test_every_declared_read_is_made_by_an_earlier_step() -> None:
    reads = pipeline_module.stage_reads()
    assert tuple(reads) == PIPELINE_STAGES
    for stage, names in reads.items():
        for name in names:
            maker = variables()[name].stage
            assert PIPELINE_STAGES.index(maker) < PIPELINE_STAGES.index(stage), (stage, name, maker)


def test_reliability_runs_before_compute_which_reads_its_goodput() -> None:
    order = [name for name, _ in pipeline_module.STAGES]
    assert order.index("reliability") < order.index("compute")
    assert "reference_job_goodput" in pipeline_module.stage_reads()["compute"]
    source = (ROOT / "src" / "neocloud" / "compute.py").read_text(encoding="utf-8")
    body = source[source.index("def compute(scenario"):]
    assert "job_reliability" not in body and "workload_inputs" not in body


def _without(stage: Any, name: str) -> Any:
    """``stage`` with ``name`` left out of what it makes."""
    def dropped(*args: Any) -> xr.Dataset:
        return stage(*args).drop_vars(name)

    dropped.__module__ = stage.__module__
    return dropped


def _with_stage(monkeypatch: pytest.MonkeyPatch, name: str, replacement: Any) -> None:
    stages = tuple((key, replacement if key == name else stage) for key, stage in pipeline_module.STAGES)
    monkeypatch.setattr(pipeline_module, "STAGES", stages)


def test_a_variable_removed_upstream_names_its_maker_and_its_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    design = dict(pipeline_module.STAGES)["design"]
    _with_stage(monkeypatch, "design", _without(design, "phase_racks"))
    with pytest.raises(ContractError, match=r"stage design did not make phase_racks.*read by stage buildout"):
        run(EXAMPLES / "ashburn.yaml")


def test_a_removed_reliability_figure_names_reliability_and_compute(monkeypatch: pytest.MonkeyPatch) -> None:
    reliability = dict(pipeline_module.STAGES)["reliability"]
    _with_stage(monkeypatch, "reliability", _without(reliability, "reference_job_goodput"))
    with pytest.raises(ContractError, match=r"stage reliability did not make reference_job_goodput.*stage compute"):
        run(EXAMPLES / "ashburn.yaml")


def test_an_undeclared_read_names_the_reader_and_the_maker(monkeypatch: pytest.MonkeyPatch) -> None:
    compute = pipeline_module.sys.modules[dict(pipeline_module.STAGES)["compute"].__module__]
    monkeypatch.setattr(compute, "READS", tuple(name for name in compute.READS if name != "job_accelerators"))
    with pytest.raises(ContractError, match="stage compute reads job_accelerators, made by stage reliability"):
        run(EXAMPLES / "ashburn.yaml")


def test_a_read_of_a_later_stage_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    compute = pipeline_module.sys.modules[dict(pipeline_module.STAGES)["compute"].__module__]
    monkeypatch.setattr(compute, "READS", (*compute.READS, "npv_usd"))
    with pytest.raises(ContractError, match="stage compute reads npv_usd, made by stage finance"):
        run(EXAMPLES / "ashburn.yaml")


def test_an_unregistered_output_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    energy = dict(pipeline_module.STAGES)["energy"]

    def extra(*args: Any) -> xr.Dataset:
        out = energy(*args)
        out["mystery_mw"] = out["annual_energy_mwh"] * 0
        return out

    extra.__module__ = energy.__module__
    _with_stage(monkeypatch, "energy", extra)
    with pytest.raises(ContractError, match="stage energy makes variables the registry does not give it: mystery_mw"):
        run(EXAMPLES / "ashburn.yaml")


def test_realise_is_the_pipelines_own_step() -> None:
    assert makes("realise") == ("draw", "month", "date", "phase")
    for module in ("design.py", "load.py", "pipeline.py"):
        tree = ast.parse((ROOT / "src" / "neocloud" / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "neocloud.uncertainty":
                assert "realise" not in {alias.name for alias in node.names}, module
    from neocloud import uncertainty

    assert not hasattr(uncertainty, "realise")  # one home: the pipeline's first step


def _generated_section(text: str) -> str:
    return text[text.index(GENERATED_FROM):]


def test_architecture_page_holds_the_generated_stage_tables() -> None:
    expected = markdown(pipeline_module.stage_reads())
    assert _generated_section(ARCHITECTURE.read_text(encoding="utf-8")) == expected
    assert "docs/architecture.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_markdown_command_prints_the_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--markdown"]) == 0
    assert capsys.readouterr().out == markdown(pipeline_module.stage_reads())
    assert main([]) == 2


def test_the_page_names_every_stage_in_order() -> None:
    text = _generated_section(Path(ARCHITECTURE).read_text(encoding="utf-8"))
    places = [text.index(f"### {stage}\n") for stage in PIPELINE_STAGES]
    assert places == sorted(places)
