"""Reuse in the energy stage: identical epochs and draws simulated once, the checked utilisation grid."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neocloud.buildout import buildout
from neocloud.design import design
from neocloud.energy import dispatch, energy, energy_dataset, monthly_buffers, reuse, simulate
from neocloud.energy.hourly import HOURS_PER_YEAR, MONTHLY_KEYS
from neocloud.energy.reuse import GRID_POINTS, ProbeCache, Reuse, YearCache, simulate_reused
from neocloud.energy.starts import starts_dense, starts_on_grid
from neocloud.pipeline import base_dataset
from neocloud.realise import realise
from tests.test_energy import scenario, site


def supplied(catalog: Any, draws: int, rng: np.random.Generator, **fields: Any) -> Any:
    """A site with grid, gas and a battery, utilisation and price drawn per draw."""
    values = {
        "it_mw": np.full(draws, 80.0),
        "grid_mw": np.full(draws, 70.0),
        "gas_mw": np.full(draws, 60.0),
        "gas_unit_mw": 20.0,
        "gas_min_load_frac": 0.3,
        "gas_min_up_hours": 3,
        "gas_availability": 0.95,
        "gas_derate_per_c": 0.007,
        "gas_cost_usd_per_mwh": np.full(draws, 55.0),
        "battery_mw": np.full(draws, 10.0),
        "battery_mwh": np.full(draws, 20.0),
        "battery_efficiency": 0.85,
        "utilisation": rng.uniform(0.6, 0.95, draws),
        "price_usd_per_mwh": rng.uniform(60, 90, draws),
    }
    values.update(fields)
    return site(catalog, draws, **values)


def assert_identical(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key].tobytes() == value.tobytes(), key


def test_repeated_draws_are_simulated_once_and_give_the_same_bits(catalog: Any) -> None:
    rng = np.random.default_rng(3)
    distinct = supplied(catalog, 5, rng)
    repeated = distinct.take(np.array([0, 1, 0, 2, 3, 1, 4, 4, 0]))
    report = Reuse()
    got = simulate_reused(repeated, report, tolerance=0)
    assert report.draws_exact == 5 and report.draws_interpolated == 0
    assert_identical(got, simulate(repeated))


def test_the_exact_path_is_the_plain_simulation(catalog: Any) -> None:
    model = supplied(catalog, 12, np.random.default_rng(4))
    report = Reuse()
    assert_identical(simulate_reused(model, report, tolerance=0), simulate(model))
    assert report.draws_exact == 12


def test_an_identical_epoch_is_reused(catalog: Any) -> None:
    model = supplied(catalog, 4, np.random.default_rng(5))
    years = YearCache(tolerance=0)
    first = years(model)
    again = years(replace(model, it_mw=model.it_mw.copy()))  # equal values in another array
    assert again is first and years.report.years_reused == 1 and years.report.years_simulated == 1
    other = years(replace(model, it_mw=model.it_mw * 1.01))
    assert other is not first and years.report.years_simulated == 2


def test_the_utilisation_grid_agrees_with_the_exact_path_within_its_reported_error(catalog: Any) -> None:
    draws = 400
    # grid only, never short: the dispatch is linear in utilisation between the daily cycle's kinks
    none = np.zeros(draws)
    model = supplied(catalog, draws, np.random.default_rng(6), grid_mw=np.full(draws, 500.0), gas_mw=none,
                     battery_mw=none)
    report = Reuse()
    got = simulate_reused(model, report, tolerance=1e-6, min_draws=100)
    assert report.draws_interpolated == draws and report.classes_interpolated == 1
    assert report.largest_error <= 1e-6
    exact = simulate(model)
    for key, value in exact.items():
        scale = max(float(np.abs(value).max()), 1e-300)
        assert float(np.abs(got[key] - value).max()) / scale <= 10 * max(report.largest_error, 1e-12), key
    # the cost follows the price: two draws at one utilisation and different prices differ
    assert not np.allclose(got["cost_usd"][0], got["cost_usd"][1])


def test_a_grid_above_the_tolerance_is_flagged_and_the_draws_run_exactly(catalog: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    draws = 300
    # turbines committed in whole units: energy by source steps with utilisation, which a grid cannot follow
    model = supplied(catalog, draws, np.random.default_rng(7), grid_mw=np.full(draws, 30.0),
                     price_usd_per_mwh=np.full(draws, 80.0))
    report = Reuse()
    tried: list[int] = []
    grid_year = reuse._grid_year
    monkeypatch.setattr(reuse, "_grid_year", lambda *args: tried.append(args[-1]) or grid_year(*args))
    got = simulate_reused(model, report, tolerance=1e-9, min_draws=100)
    assert tried == list(GRID_POINTS)  # the coarse grid failed, then the fine one
    assert report.classes_rejected == 1 and report.draws_interpolated == 0
    assert report.errors[0] > 1e-9
    assert_identical(got, simulate(model))
    assert "above it" in report.describe(1e-9)


def test_the_grid_is_only_tried_for_large_classes(catalog: Any) -> None:
    draws = 2 * GRID_POINTS[-1]
    model = supplied(catalog, draws, np.random.default_rng(8))
    report = Reuse()
    simulate_reused(model, report, tolerance=1e-6, min_draws=draws + 1)
    assert report.errors == [] and report.draws_exact == draws


def test_the_stage_reports_its_method_and_agrees_with_its_exact_path(catalog: Any) -> None:
    draws = 200
    model = scenario(finance={"horizon_years": 2, "utilisation": {"dist": "uniform", "low": 0.6, "high": 0.9}})
    realised = realise(model, draws, seed=2)
    upstream = base_dataset(model, draws)
    for stage in (design, buildout):
        upstream = upstream.merge(stage(realised, catalog, upstream), compat="override")
    exact = energy(realised, catalog, upstream, tolerance=0)
    mapped = energy(realised, catalog, upstream, min_draws=50)
    assert "0 on a utilisation grid" in exact["annual_energy_mwh"].attrs["method"]
    method = mapped["annual_energy_mwh"].attrs["method"]
    # one supply epoch, identical to the final supply's year: simulated once, every draw on the grid
    assert "1 typical years simulated, 1 reused" in method and f"{draws} on a utilisation grid" in method
    for key in ("annual_energy_mwh", "energy_cost_usd_per_year", "facility_energy_mwh", "energy_cost_usd"):
        np.testing.assert_allclose(mapped[key].values, exact[key].values, rtol=1e-6, atol=1e-9)


def test_turbine_starts_are_committed_per_draw_on_the_interpolated_demand(catalog: Any) -> None:
    draws = 300
    # gas first and never short, grid to spare: the dispatch is linear in utilisation, the starts step with it
    model = supplied(catalog, draws, np.random.default_rng(9), grid_mw=np.full(draws, 200.0),
                     gas_mw=np.full(draws, 200.0), gas_cost_usd_per_mwh=np.full(draws, 30.0),
                     gas_start_usd_per_mw=150.0)
    report = Reuse()
    got = simulate_reused(model, report, tolerance=1e-9, min_draws=100)
    exact = simulate(model)
    assert report.draws_interpolated == draws and report.classes_starts_committed == 1
    assert "committed exactly per draw" in report.describe(1e-9)
    assert len(np.unique(dispatch(model)["starts"])) > 5  # the starts step with utilisation
    for key, value in exact.items():
        scale = max(float(np.abs(value).max()), 1e-300)
        assert float(np.abs(got[key] - value).max()) / scale <= 10 * max(report.largest_error, 1e-12), key


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), min_up=st.integers(1, 5), falling=st.booleans(),
       draws=st.integers(1, 200))
def test_starts_near_changes_equal_committing_every_hour(catalog: Any, seed: int, min_up: int, falling: bool,
                                                         draws: int) -> None:
    """The sparse commitment (only the hours where an interval's ends differ) gives the dense one's bits."""
    rng = np.random.default_rng(seed)
    model = supplied(catalog, draws, rng, gas_min_up_hours=min_up, gas_mw=np.full(draws, 200.0),
                     gas_cost_usd_per_mwh=np.full(draws, 30.0), price_usd_per_mwh=np.full(draws, 70.0))
    points = 9
    base = rng.uniform(20, 180, (1, HOURS_PER_YEAR))
    slope = rng.uniform(0, 3, (1, HOURS_PER_YEAR)) * (-1 if falling else 1)
    net_grid = np.maximum(base + slope * np.arange(points)[:, None], 0.0)
    position = rng.integers(0, points - 1, draws)
    weight = rng.choice([0.0, 1.0, *rng.uniform(0, 1, 8)], draws)
    expected = starts_dense(model, net_grid, position, weight)
    assert starts_on_grid(model, net_grid, position, weight).tobytes() == expected.tobytes()


def test_starts_fall_back_to_every_hour_where_the_turbines_differ_by_draw(catalog: Any) -> None:
    rng = np.random.default_rng(11)
    model = supplied(catalog, 40, rng, gas_mw=rng.choice([100.0, 200.0], 40))
    net_grid = rng.uniform(0, 150, (5, HOURS_PER_YEAR))
    position, weight = rng.integers(0, 4, 40), rng.uniform(0, 1, 40)
    expected = starts_dense(model, net_grid, position, weight)
    assert starts_on_grid(model, net_grid, position, weight).tobytes() == expected.tobytes()


def starting(catalog: Any, draws: int, seed: int) -> Any:
    """A class of turbines that start (its grid commits the starts per draw) and a few draws off it (exact)."""
    model = supplied(catalog, draws, np.random.default_rng(seed), grid_mw=np.full(draws, 200.0),
                     gas_mw=np.full(draws, 200.0), gas_cost_usd_per_mwh=np.full(draws, 30.0),
                     gas_start_usd_per_mw=150.0)
    return replace(model, gas_mw=np.where(np.arange(draws) % 25 == 3, 180.0, model.gas_mw))


def test_probe_years_are_kept_across_calls_and_give_the_same_bits(catalog: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    model = starting(catalog, 300, 12)
    monkeypatch.setattr(reuse, "PROBE_YEARS", ProbeCache(max_bytes=0))  # nothing kept: every probe simulated
    uncached = simulate_reused(model, Reuse(), tolerance=1e-9, min_draws=100)
    cache = ProbeCache()
    monkeypatch.setattr(reuse, "PROBE_YEARS", cache)
    report = Reuse()
    first = simulate_reused(model, report, tolerance=1e-9, min_draws=100)
    assert report.classes_starts_committed == 1 and 0 < report.draws_exact < 300
    assert (cache.hits, cache.misses) == (0, 2)  # the probe years and their hourly demand
    again = simulate_reused(replace(model, it_mw=model.it_mw.copy()), Reuse(), tolerance=1e-9, min_draws=100)
    assert (cache.hits, cache.misses) == (2, 2)
    assert_identical(first, uncached)
    assert_identical(again, uncached)
    other = replace(model, gas_cost_usd_per_mwh=np.nextafter(model.gas_cost_usd_per_mwh, 100.0))
    simulate_reused(other, Reuse(), tolerance=1e-9, min_draws=100)  # one ulp of one input: another site
    assert cache.hits == 2 and cache.misses == 4


def test_kept_probe_years_cannot_be_changed_by_a_caller(catalog: Any) -> None:
    cache = ProbeCache()
    probe = supplied(catalog, 3, np.random.default_rng(13))
    year = cache.year(probe)
    for value in year.values():
        with pytest.raises(ValueError, match="read-only"):
            value[...] = 0.0
    year["cost_usd"] = np.zeros(1)  # the dict is the caller's own
    again = cache.year(probe)
    assert cache.hits == 1
    assert_identical(again, simulate(probe))
    net, starts = cache.hours(probe)
    assert not net.flags.writeable and not starts.flags.writeable


def test_probe_years_are_kept_within_the_byte_cap_least_recently_used_out_first(catalog: Any) -> None:
    probes = [supplied(catalog, 2, np.random.default_rng(seed)) for seed in range(3)]
    size = sum(value.nbytes for value in simulate(probes[0]).values())
    cache = ProbeCache(max_bytes=2 * size)
    cache.year(probes[0])
    cache.year(probes[1])
    cache.year(probes[0])  # now the most recently used
    cache.year(probes[2])  # probes[1] goes
    assert cache.bytes == 2 * size and cache.misses == 3
    cache.year(probes[0])
    assert cache.hits == 2
    cache.year(probes[1])
    assert cache.misses == 4 and cache.bytes <= cache.max_bytes
    cache.clear()
    assert cache.bytes == 0


def test_a_year_of_some_outputs_gives_their_bits_and_is_completed_when_reused(catalog: Any) -> None:
    model = starting(catalog, 300, 14)
    full = simulate_reused(model, Reuse(), tolerance=1e-9, min_draws=100)
    monthly = simulate_reused(model, Reuse(), tolerance=1e-9, min_draws=100, keys=MONTHLY_KEYS)
    assert list(monthly) == list(MONTHLY_KEYS)
    assert_identical(monthly, {key: full[key] for key in MONTHLY_KEYS})
    years = YearCache(tolerance=1e-9, min_draws=100)
    years(model, MONTHLY_KEYS)
    completed = years(model)
    assert_identical(completed, full)
    assert years.report.years_simulated == 1 and years.report.years_reused == 1
    assert years.report.draws_interpolated + years.report.draws_exact == 300  # counted once


def test_the_lines_by_source_are_a_view_with_the_stacked_bits(catalog: Any) -> None:
    draws, months = 5, 7
    rng = np.random.default_rng(15)
    per_month, block = monthly_buffers(draws, months)
    for values in per_month.values():
        values[...] = rng.uniform(0, 100, (draws, months))
    full = simulate(supplied(catalog, draws, rng))
    args = (full, np.full(draws, 60.0), np.zeros(draws))
    viewed = energy_dataset(per_month, *args, by_source=block)
    stacked = energy_dataset({key: value.copy() for key, value in per_month.items()}, *args)
    assert viewed["energy_by_source_mwh"].values.tobytes() == stacked["energy_by_source_mwh"].values.tobytes()
    assert np.shares_memory(viewed["energy_by_source_mwh"].values, block)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), points=st.integers(2, 40), draws=st.integers(1, 300),
       shape=st.sampled_from([(), (12,), (168, 5)]), scattered=st.booleans())
def test_the_compiled_interpolation_gives_numpys_bits(seed: int, points: int, draws: int, shape: tuple[int, ...],
                                                      scattered: bool) -> None:
    """``_along``'s kernel against numpy's take, multiply and add (each rounded once, no fused multiply-add)."""
    rng = np.random.default_rng(seed)
    grid = rng.normal(0, 1, (points, *shape)) * 10.0 ** rng.integers(-3, 9, (points, *shape))
    position = rng.integers(0, points - 1, draws)
    weight = rng.choice([0.0, 1.0, *rng.uniform(0, 1, 6)], draws)
    rises = grid[1:] - grid[:-1]
    expected = np.take(grid, position, axis=0) + np.take(rises, position, axis=0) * weight.reshape(
        (-1,) + (1,) * len(shape))
    if not scattered:
        assert reuse._along(grid, position, weight).tobytes() == expected.tobytes()
        return
    rows = np.sort(rng.choice(draws + 7, draws, replace=False))
    out = np.full((draws + 7, *shape), np.nan)
    reuse._along(grid, position, weight, out, rows)
    assert out[rows].tobytes() == expected.tobytes()
    assert np.isnan(np.delete(out, rows, axis=0)).all()  # no other row written
