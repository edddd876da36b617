"""The pipeline assembles its Dataset from plain Variables, built once: the same Dataset, bit for bit and in the
same order, as merging DataArrays block by block."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neocloud import pipeline
from neocloud.blocks import blocks, concat_draws, join_draws
from neocloud.compute import compute
from neocloud.inference import READS as INFERENCE_READS
from neocloud.inference import inference
from neocloud.pipeline import Made, _in_merge_order, run
from neocloud.registry import ContractError, dropped, dropping, unread_months, variables
from neocloud.sweep import run_chunk


def assert_same_bits(got: xr.Dataset, expected: xr.Dataset) -> None:
    """The same variables and coordinates, in the same order, with the same dims, dtypes, bytes and attributes."""
    assert list(got.variables) == list(expected.variables)
    assert list(got.coords) == list(expected.coords) and list(got.data_vars) == list(expected.data_vars)
    assert list(got.xindexes) == list(expected.xindexes)
    for key, variable in expected.variables.items():
        other = got.variables[key]
        assert (other.dims, other.dtype, other.attrs) == (variable.dims, variable.dtype, variable.attrs), key
        assert np.asarray(other.values).tobytes() == np.asarray(variable.values).tobytes(), key
    assert got.attrs == expected.attrs


@settings(max_examples=40, deadline=None)
@given(draws=st.integers(1, 40), size=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_join_draws_is_the_whole_array(draws: int, size: int, seed: int) -> None:
    """Blocks of (draw,), (draw, tranche) and (month, draw) variables joined give the arrays the blocks were
    cut from; a variable without a draw axis is the first block's."""
    rng = np.random.default_rng(seed)
    whole = {"a": xr.Variable("draw", rng.random(draws), attrs={"summary": 1, "units": "USD"}),
             "b": xr.Variable(("draw", "tranche"), rng.integers(0, 9, (draws, 2)).astype(np.int8)),
             "c": xr.Variable(("month", "draw"), rng.random((3, draws))),
             "d": xr.Variable("tranche", np.array(["x", "y"]))}
    parts = [{key: variable.isel(draw=block) if "draw" in variable.dims else variable
              for key, variable in whole.items()} for block in blocks(draws, size)]
    joined = join_draws(parts)
    assert list(joined) == list(whole)
    for key, variable in whole.items():
        assert joined[key].dims == variable.dims and joined[key].attrs == variable.attrs
        assert joined[key].dtype == variable.dtype
        assert joined[key].values.tobytes() == variable.values.tobytes(), key


def test_concat_draws_keeps_coordinates_and_attributes() -> None:
    """Datasets of blocks joined: a draw coordinate concatenated, the others the first block's."""
    whole = xr.Dataset({"a": ("draw", np.arange(6.0), {"units": "MW"}), "t": (("draw", "tranche"), np.ones((6, 2)))},
                       coords={"draw": np.arange(6), "tranche": ["x", "y"]}, attrs={"scenario": "s"})
    joined = concat_draws([whole.isel(draw=block) for block in blocks(6, 4)])
    xr.testing.assert_identical(joined, whole)


def test_coordinates_in_merge_order_are_xarrays_order() -> None:
    """Upstream Variables and joined Variables with coordinates given in ``_in_merge_order``: the Dataset that
    joined DataArrays (carrying their coordinates) used to make, in the same order (the run keeps its data
    variables listed first, :func:`neocloud.pipeline.finished`)."""
    draws = 5
    upstream_coords = {"draw": xr.Variable("draw", np.arange(draws)), "month": xr.Variable("month", np.arange(4)),
                       "date": xr.Variable("month", np.arange(4) * 2), "phase": xr.Variable("phase", ["a", "b"])}
    brought = {"cost_component": xr.Variable("cost_component", ["it", "site", "power"]),
               "tranche": xr.Variable("tranche", ["loan"])}
    upstream = {"accelerators": xr.Variable("draw", np.ones(draws)),
                "phase_racks": xr.Variable(("draw", "phase"), np.ones((draws, 2)))}
    joined = {"capex_usd": xr.Variable("draw", np.arange(draws) * 1.5, attrs={"summary": 1}),
              "tranche_amount_usd": xr.Variable(("draw", "tranche"), np.ones((draws, 1))),
              "cost_breakdown": xr.Variable(("draw", "cost_component"), np.ones((draws, 3))),
              "irr_reason": xr.Variable("draw", np.zeros(draws, dtype=np.int8))}
    block = xr.Dataset(joined, coords={**upstream_coords, **brought})
    merged = xr.Dataset({**upstream, **block.data_vars}, coords={**upstream_coords, **brought})
    built = xr.Dataset({**upstream, **joined}, coords=_in_merge_order(joined, {**upstream_coords, **brought}))
    assert list(built.coords) == list(merged.coords) and list(built.data_vars) == list(merged.data_vars)
    assert_same_bits(built[list(built.data_vars)], merged[list(merged.data_vars)])  # as the run keeps them
    assert list(built.coords)[:3] == ["draw", "tranche", "cost_component"]


def test_made_views_share_indexes_built_once(abilene: Any) -> None:
    """A view is the Dataset of its variables and every coordinate; the coordinates' indexes are built once and
    again only when a stage brings a new coordinate."""
    made = Made(pipeline.base_dataset(abilene, 3))
    made.add(xr.Dataset({"accelerators": ("draw", np.ones(3))}))
    view = made.view(["accelerators", "not_made"])
    xr.testing.assert_identical(view, xr.Dataset({"accelerators": made.variables["accelerators"]},
                                                 coords=made.coords))
    assert made.coordinates() is made.coordinates()
    before = made.coordinates()
    made.add(xr.Dataset({"tranche_amount_usd": (("draw", "tranche"), np.ones((3, 1)))}, coords={"tranche": ["x"]}))
    assert made.coordinates() is not before and "tranche" in made.view([]).coords
    xr.testing.assert_identical(made.dataset(), xr.Dataset(made.variables, coords=made.coords))


@pytest.mark.parametrize("block", [7, 9])
def test_a_summary_only_run_keeps_the_whole_runs_variables_bit_for_bit(abilene: Any, block: int,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in blocks of draws, every variable kept (without a month) is the whole run's, with its dims, dtype,
    attributes and bytes, in the whole run's order; the chunk's summary arrays are the run's."""
    whole = run(abilene, draws=20, seed=5).dataset
    monkeypatch.setattr(pipeline, "SUMMARY_BLOCK_DRAWS", block)
    chunk = run(abilene, draws=20, seed=5, summary_only=True).dataset
    assert list(chunk.data_vars) == [key for key in whole.data_vars if key in chunk.data_vars]
    assert {key for key, variable in whole.data_vars.items() if "month" not in variable.dims} == set(chunk.data_vars)
    for key, variable in chunk.variables.items():
        expected = whole.variables[key]
        assert (variable.dims, variable.dtype, variable.attrs) == (expected.dims, expected.dtype, expected.attrs), key
        assert variable.values.tobytes() == expected.values.tobytes(), key
    assert list(chunk.coords)[:3] == ["draw", "cost_component", "tranche"]
    values = run_chunk(abilene, 20, 5)
    assert all(values[key].tobytes() == np.asarray(chunk[key].values, dtype=float).tobytes() for key in values)


def test_inference_makes_its_registry_rows_with_units(abilene: Any, catalog: Any) -> None:
    """The inference stage's Dataset, built once: its registry rows in registry order, summary keys flagged
    ``summary`` then ``units`` (which the pipeline sets to the registry's), the monthly serving rate (draw,
    month), each the run's bits."""
    dataset = run(abilene, draws=4, seed=1).dataset
    made = inference(pipeline.realise(abilene, 4, 1), catalog, dataset[list(INFERENCE_READS)])
    assert list(made.data_vars) == [name for name, entry in variables().items() if entry.stage == "inference"]
    assert not made.coords
    for key, variable in made.data_vars.items():
        monthly = variable.dims == ("draw", "month")
        assert list(variable.attrs) == (["units"] if monthly else ["summary", "units"]), key
        assert list(variable.attrs) == list(dataset[key].attrs)
        assert variable.attrs.get("summary") == (None if monthly else 1), key
        assert variable.values.tobytes() == dataset[key].values.tobytes(), key


def test_what_a_chunk_drops_unread_is_along_months_and_read_by_no_stage() -> None:
    """The variables a summary-only run drops unread: along draw and month, never declared read by a stage;
    outside a run none is dropped."""
    reads = pipeline.stage_reads()
    unread = unread_months(reads)
    assert {"phase_systems_online", "bf16_pflops_online", "serving_tokens_per_s"} <= unread
    assert not unread & {name for names in reads.values() for name in names}
    assert all(variables()[name].dims[:1] == ("draw",) and "month" in variables()[name].dims for name in unread)
    assert dropped() == frozenset()
    with dropping(unread):
        assert dropped() == unread
    assert dropped() == frozenset()


def test_a_chunk_makes_stand_ins_of_what_it_drops_and_still_checks_them(abilene: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """In blocks, build-out (where draws repeat), compute and inference make the unread monthly variables as
    stand-ins of their dims (a whole run makes their values); a stage that leaves one out is still refused by
    its contract."""
    made: dict[str, list[xr.Dataset]] = {}
    original = pipeline.run_stage

    def spy(name: str, *args: Any, **kwargs: Any) -> xr.Dataset:
        out = original(name, *args, **kwargs)
        made.setdefault(name, []).append(out)
        return out

    monkeypatch.setattr(pipeline, "run_stage", spy)
    monkeypatch.setattr(pipeline, "SUMMARY_BLOCK_DRAWS", 64)
    run(abilene, draws=200, seed=5, summary_only=True)  # build-out: fewer distinct draws than draws
    for stage, key in (("buildout", "phase_systems_online"), ("compute", "delivered_bf16_pflops"),
                       ("inference", "serving_tokens_per_s")):
        variable = made[stage][0].variables[key]
        assert variable.dims == variables()[key].dims and variable.attrs["units"] == variables()[key].unit
        assert np.isnan(variable.values).all() and not variable.values.flags.writeable, key
    made.clear()
    run(abilene, draws=200, seed=5)
    assert np.isfinite(made["compute"][0]["delivered_bf16_pflops"].values).all()
    assert np.isfinite(made["buildout"][0]["phase_systems_online"].values).all()

    def forgetful(scenario: Any, catalog: Any, upstream: xr.Dataset) -> xr.Dataset:
        return compute(scenario, catalog, upstream).drop_vars("decode_tokens_per_s")

    forgetful.__module__ = compute.__module__  # its READS are compute's
    monkeypatch.setattr(pipeline, "STAGES", tuple((name, forgetful if name == "compute" else stage)
                                                  for name, stage in pipeline.STAGES))
    with pytest.raises(ContractError, match="stage compute did not make decode_tokens_per_s"):
        run(abilene, draws=20, seed=5, summary_only=True)


@pytest.mark.parametrize("draws", [1_000, 12_000])
def test_summary_quantiles_are_numpys_on_each_key_and_leave_the_draws_alone(draws: int) -> None:
    """A summary's P10, P50 and P90 are numpy's on each key alone, bit for bit, whether taken on the stack of
    the keys (few draws) or key by key on copies (many); the draws themselves are left as they were."""
    rng = np.random.default_rng(draws)
    values = {f"k{index}": rng.lognormal(size=draws) * (index + 1) for index in range(5)}
    values["with_nan"] = np.where(rng.random(draws) < 0.1, np.nan, 1.0)
    before = {key: array.copy() for key, array in values.items()}
    got = pipeline._quantiles(values)
    assert (draws > pipeline.STACKED_QUANTILE_DRAWS) == (draws == 12_000)
    assert list(got) == [f"k{index}" for index in range(5)]
    for key, table in got.items():
        assert np.asarray(table).tobytes() == np.percentile(before[key], [10, 50, 90]).tobytes()
    assert all(np.array_equal(values[key], before[key], equal_nan=True) for key in values)
