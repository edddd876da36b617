"""Uncertain inputs: distributions, Latin hypercube, rank correlations, the draw axis, sensitivity."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from neocloud import Scenario, ScenarioError, run
from neocloud.cli import main
from neocloud.load import read_yaml, scenario_catalog, validate
from neocloud.pipeline import evaluate
from neocloud.realise import realise
from neocloud.scenario import Dist
from neocloud.sensitivity import sobol_indices, tornado
from neocloud.uncertainty import (
    quantiles,
    rank_correlate,
    sample,
    stratum_order,
    substitute,
    uncertain_inputs,
    unit_samples,
)

from .conftest import EXAMPLES

U = np.linspace(0.005, 0.995, 199)


def abilene_data() -> dict:
    data, _, _ = read_yaml(EXAMPLES / "abilene.yaml")
    return data


def only_utilisation(scenario: Scenario) -> Scenario:
    """Abilene with a single uncertain input: utilisation."""
    data = abilene_data()
    for path, _ in uncertain_inputs(scenario):
        parent = data
        for part in path[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        del parent[path[-1]]
    data["finance"]["utilisation"] = {"dist": "uniform", "low": 0.6, "high": 0.9}
    data.pop("uncertainty", None)
    return validate(data)


@pytest.mark.parametrize(
    ("dist", "reference"),
    [
        (Dist(dist="uniform", low=2, high=5), stats.uniform(loc=2, scale=3)),
        (Dist(dist="triangular", low=1, mode=2, high=6), stats.triang(0.2, loc=1, scale=5)),
        (
            Dist(dist="pert", low=10, mode=12, high=20),
            stats.beta(1 + 4 * 2 / 10, 1 + 4 * 8 / 10, loc=10, scale=10),
        ),
        (Dist(dist="normal", mean=3, sd=0.5), stats.norm(loc=3, scale=0.5)),
        (
            Dist(dist="normal", mean=0.85, sd=0.1, low=0.6, high=0.95),
            stats.truncnorm(-2.5, 1.0, loc=0.85, scale=0.1),
        ),
        (Dist(dist="lognormal", median=62, sigma=0.25), stats.lognorm(0.25, scale=62)),
        (
            Dist(dist="choice", values=[6, 4, 5], weights=[1, 2, 1]),
            stats.rv_discrete(values=([4, 5, 6], [0.5, 0.25, 0.25])),
        ),
    ],
)
def test_quantiles_match_scipy(dist: Dist, reference) -> None:
    np.testing.assert_allclose(quantiles(dist, U), reference.ppf(U), rtol=1e-9)


def test_empirical_quantiles_are_the_observations() -> None:
    observations = [3.0, 1.0, 4.0, 1.5, 9.0]
    values = quantiles(Dist(dist="empirical", values=observations), U)
    assert set(np.unique(values)) == set(observations)
    np.testing.assert_allclose(values, np.quantile(observations, U, method="inverted_cdf"))


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 400), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_latin_hypercube_has_one_point_per_stratum(draws: int, dimensions: int, seed: int) -> None:
    u = unit_samples(dimensions, draws, seed)
    assert u.shape == (dimensions, draws)
    strata = np.sort(np.floor(u * draws).astype(int), axis=1)
    np.testing.assert_array_equal(strata, np.tile(np.arange(draws), (dimensions, 1)))


def test_one_draw_is_the_median_case() -> None:
    dists = [Dist(dist="lognormal", median=62, sigma=0.25), Dist(dist="triangular", low=0, mode=0, high=1)]
    np.testing.assert_allclose(sample(dists, 1, seed=3)[:, 0], [62, 1 - np.sqrt(0.5)])


def test_samplers_are_seeded_and_reproducible() -> None:
    for sampler in ("latin-hypercube", "sobol", "random"):
        first = unit_samples(3, 1000, 11, sampler)
        np.testing.assert_array_equal(first, unit_samples(3, 1000, 11, sampler))
        assert not np.array_equal(first, unit_samples(3, 1000, 12, sampler))
        assert first.min() > 0 and first.max() < 1
        np.testing.assert_allclose(first.mean(axis=1), 0.5, atol=0.03)


def test_rank_correlations_are_realised_and_marginals_kept() -> None:
    dists = [
        Dist(dist="uniform", low=0, high=1),
        Dist(dist="lognormal", median=2, sigma=0.5),
        Dist(dist="pert", low=1, mode=2, high=5),
        Dist(dist="choice", values=[1, 2, 3, 4]),
    ]
    target = np.array([[1, 0.7, -0.4, 0.0], [0.7, 1, 0.0, 0.3], [-0.4, 0.0, 1, 0.0], [0.0, 0.3, 0.0, 1]])
    correlated = sample(dists, 4000, seed=5, rank_correlation=target)
    independent = sample(dists, 4000, seed=5)
    realised = stats.spearmanr(correlated[:3].T).statistic
    np.testing.assert_allclose(realised, target[:3, :3], atol=0.03)
    np.testing.assert_array_equal(np.sort(correlated, axis=1), np.sort(independent, axis=1))


def test_rank_correlate_keeps_latin_hypercube_strata() -> None:
    u = unit_samples(2, 500, 1)
    moved = rank_correlate(u, np.array([[1.0, -0.9], [-0.9, 1.0]]))
    np.testing.assert_array_equal(np.sort(moved, axis=1), np.sort(u, axis=1))
    assert stats.spearmanr(moved[0], moved[1]).statistic == pytest.approx(-0.9, abs=0.02)


def test_scenario_correlation_is_realised(abilene: Scenario) -> None:
    realised = realise(abilene, 3000, seed=2)
    prices = [phase.system_price_usd for phase in realised.campus.phases]
    assert stats.spearmanr(prices[0], prices[1]).statistic == pytest.approx(0.8, abs=0.03)
    assert stats.spearmanr(realised.finance.utilisation, prices[0]).statistic == pytest.approx(0, abs=0.05)


def test_correlation_of_a_plain_number_names_the_path_and_the_uncertain_inputs() -> None:
    data = abilene_data()
    data["uncertainty"]["correlations"] = [
        {"a": "finance.discount_rate", "b": "finance.utilisation", "rho": 0.3}
    ]
    with pytest.raises(
        ScenarioError,
        match=r"uncertainty\.correlations\.0\.a: 'finance\.discount_rate' is not an "
        r"uncertain input.*allowed: .*finance\.utilisation",
    ):
        run(validate(data), draws=10)


def test_impossible_correlations_are_an_error() -> None:
    data = abilene_data()
    a, b, c = "finance.utilisation", "finance.it_life_years", "site.power_price_usd_per_mwh"
    data["uncertainty"]["correlations"] = [
        {"a": a, "b": b, "rho": 0.9},
        {"a": b, "b": c, "rho": 0.9},
        {"a": a, "b": c, "rho": -0.9},
    ]
    with pytest.raises(ScenarioError, match="correlations cannot hold together"):
        run(validate(data), draws=10)


def test_a_distribution_beyond_the_field_bounds_is_an_error() -> None:
    data = abilene_data()
    data["finance"]["utilisation"] = {"dist": "normal", "mean": 0.85, "sd": 0.05}
    with pytest.raises(
        ScenarioError, match=r"finance\.utilisation: a normal distribution here reaches 1\.1.*<= 1"
    ):
        run(validate(data), draws=10)
    data["finance"]["utilisation"] = {"dist": "normal", "mean": 0.85, "sd": 0.05, "low": 0.6, "high": 1.0}
    assert run(validate(data), draws=10).dataset.sizes["draw"] == 10


def test_p10_below_p50_below_p90_everywhere(abilene: Scenario) -> None:
    summary = run(abilene, draws=64, seed=4).summary()
    keys = [key for key in summary if f"{key}_p10" in summary and summary[key] is not None]
    assert "cost_usd_per_gpu_hour" in keys
    for key in keys:
        assert summary[f"{key}_p10"] <= summary[key] <= summary[f"{key}_p90"], key
    assert summary["cost_usd_per_gpu_hour_p10"] < summary["cost_usd_per_gpu_hour_p90"]


def test_one_draw_of_the_pipeline_equals_the_median_case(abilene: Scenario) -> None:
    medians = {path: quantiles(dist, np.array([0.5]))[0] for path, dist in uncertain_inputs(abilene)}
    fixed = fixed_inputs(abilene, medians)
    assert run(abilene).summary() == {**run(fixed).summary(), "scenario": abilene.name}


def fixed_inputs(scenario: Scenario, values: dict[tuple[str, ...], float]) -> Scenario:
    """The scenario with each distribution replaced by a plain number."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    for path, value in values.items():
        parent = data
        for part in path[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        parent[path[-1]] = float(value)
    data["uncertainty"] = {}
    return Scenario.model_validate(data)


def check_draws_equal_single_runs(scenario: Scenario, draws: int, every: int) -> None:
    """Rule 1 of the design: the vectorised draws equal one-at-a-time runs on the same sampled inputs.

    Each single evaluation is the whole pipeline on one draw's input values (the catalog loaded once).
    """
    results = run(scenario, draws=draws, seed=9)
    realised = realise(scenario, draws, seed=9)
    found = uncertain_inputs(scenario)
    catalog = scenario_catalog(scenario)
    keys = [
        key
        for key in results.summary()
        if key not in ("scenario", "draws") and not key.endswith(("_p10", "_p90"))
    ]
    for draw in range(0, draws, every):
        values = {}
        for path, _ in found:
            node = realised
            for part in path:
                node = node[int(part)] if isinstance(node, list) else getattr(node, part)
            values[path] = node[draw]
        one_draw = substitute(scenario, {path: np.array([value]) for path, value in values.items()}, 1)
        single = evaluate(scenario, one_draw, catalog, 1)
        for key in keys:
            np.testing.assert_allclose(
                results.dataset[key].values[draw],
                single[key].values[0],
                rtol=1e-9,
                err_msg=f"{key} at draw {draw}",
            )


def test_draws_equal_single_evaluations(abilene: Scenario) -> None:
    check_draws_equal_single_runs(abilene, 60, every=12)


def test_thousand_draws_equal_thousand_single_evaluations(abilene: Scenario) -> None:
    check_draws_equal_single_runs(abilene, 1000, every=1)


def test_tornado_swings_one_input_at_a_time(abilene: Scenario) -> None:
    scenario = only_utilisation(abilene)
    median, swings = tornado(scenario, "cost_usd_per_gpu_hour")
    assert [item.input for item in swings] == ["finance.utilisation"]
    (swing,) = swings
    assert (swing.low_input, swing.high_input) == pytest.approx((0.63, 0.87))
    # more hours sold spread the capital over more hours: the cost per GPU-hour falls
    assert swing.high_output < median < swing.low_output
    assert median == pytest.approx(
        run(fixed_inputs(scenario, {("finance", "utilisation"): 0.75})).summary()["cost_usd_per_gpu_hour"],
        rel=1e-12,
    )


def test_sobol_indices_of_a_single_input_explain_everything(abilene: Scenario) -> None:
    base, indices = sobol_indices(only_utilisation(abilene), "cost_usd_per_gpu_hour", draws=100)
    assert base == 128
    assert indices[0].first_order == pytest.approx(1, abs=0.1)
    assert indices[0].total_order == pytest.approx(1, abs=0.1)


def test_sensitivity_cli(capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "sensitivity",
            str(EXAMPLES / "abilene.yaml"),
            "--output",
            "cost_usd_per_gpu_hour",
            "--draws",
            "16",
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    inputs = {item["input"] for item in result["tornado"]}
    assert "finance.utilisation" in inputs and inputs == {item["input"] for item in result["sobol"]}
    swings = [item["swing"] for item in result["tornado"]]
    assert swings == sorted(swings, reverse=True)


def test_sensitivity_cli_unknown_output_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sensitivity", str(EXAMPLES / "abilene.yaml"), "--output", "cost_per_hour"])
    assert exit_info.value.code == 2
    assert "--output: is not a summary key; allowed: " in capsys.readouterr().err


@settings(max_examples=60, deadline=None)
@given(draws=st.integers(1, 300), dimensions=st.integers(1, 5), seed=st.integers(0, 2**20),
       sampler=st.sampled_from(["latin-hypercube", "sobol", "random"]))
def test_stratum_order_is_argsort(draws: int, dimensions: int, seed: int, sampler: str) -> None:
    """The order taken from the strata is argsort's, for every sampler (where it does not hold, rows are sorted)."""
    u = unit_samples(dimensions, draws, seed, sampler)
    np.testing.assert_array_equal(stratum_order(u), np.argsort(u, axis=1))


def test_stratum_order_sorts_ties_and_shared_strata() -> None:
    """Ties and two points in one stratum are sorted as argsort sorts them."""
    for u in (np.array([[0.5, 0.5, 0.1]]), np.array([[0.10, 0.12, 0.9]]),
              np.array([[0.9, 0.1, 0.5], [0.2, 0.21, 0.7]])):
        np.testing.assert_array_equal(stratum_order(u), np.argsort(u, axis=1))
