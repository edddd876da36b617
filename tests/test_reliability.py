"""Reliability: closed form, the vectorised simulator, and an independent SimPy model of the same process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neocloud import load_catalog, run
from neocloud.reliability import (
    best_interval_hours,
    component_rates,
    goodput,
    job_reliability,
    poisson_quantile,
    spare_turnaround_hours,
    young_daly_hours,
)
from neocloud.reliability_sim import simulate
from tests.simpy_reliability import simpy_job

MINUTES = 60.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(1e-9, 1 - 1e-9), min_size=1, max_size=40),
    st.lists(st.floats(1e-6, 1e5), min_size=1, max_size=40),
)
def test_poisson_quantile_is_scipys(probabilities: list[float], means: list[float]) -> None:
    """The spares' Poisson quantile gives scipy's numbers bit for bit, over open probabilities and means from
    one in a million to 100,000 nodes in repair."""
    from scipy import stats

    q = np.resize(np.asarray(probabilities), max(len(probabilities), len(means)))
    mu = np.resize(np.asarray(means), q.shape)
    assert np.array_equal(poisson_quantile(q, mu), stats.poisson.ppf(q, mu))


def test_poisson_quantile_at_the_edges_and_on_the_steps() -> None:
    """Where scipy's answer is a convention (probability 0 or 1, a mean of 0, NaN, out of range) or where the
    probability is the CDF at a count, to the last bit or a step of it either side, the answer is scipy's."""
    from scipy import special, stats

    mu = np.repeat([1e-3, 0.7, 3.0, 41.5, 2e3], 12)
    cdf = special.pdtr(np.tile(np.arange(12.0), 5) + np.floor(np.repeat([0.0, 0.0, 0.0, 35.0, 1950.0], 12)), mu)
    edges = [0.0, 1.0, 0.5, np.nan, -0.1, 1.1, 0.5, 0.5, 0.99]
    q = np.concatenate([cdf, np.nextafter(cdf, 0), np.nextafter(cdf, 1), edges])
    means = np.concatenate([mu, mu, mu, [3.0, 3.0, 0.0, 3.0, 3.0, 3.0, np.nan, -1.0, 1e300]])
    inside = (q > 0) & (q < 1)
    assert np.array_equal(poisson_quantile(q, means), stats.poisson.ppf(q, means), equal_nan=True)
    assert inside.sum() > 150
    assert poisson_quantile(0.99, 41.5).shape == ()


def test_llama3_interruptions_and_goodput(catalog) -> None:
    job = job_reliability(catalog, 16384.0)
    interruptions = float(job["interruptions_per_day"]) * 54
    assert interruptions == pytest.approx(419, rel=0.01)
    assert float(job["mtti_hours"]) == pytest.approx(3.09, rel=0.02)
    assert 0.88 < float(job["goodput"]) < 0.95  # reported: effective training time above 90%


def test_best_interval_beats_neighbours_and_matches_young_daly() -> None:
    rate, delta, restart = np.array([0.05, 0.3, 3.0]), 0.5 / MINUTES, 5 / MINUTES
    best = best_interval_hours(rate, delta)
    for factor in (0.8, 1.25):
        assert np.all(goodput(rate, best, delta, restart) >= goodput(rate, best * factor, delta, restart))
    young, daly = young_daly_hours(rate, delta, restart)
    assert np.allclose(best, young, rtol=0.15) and np.allclose(best, daly, rtol=0.15)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=256, max_value=200_000), st.floats(min_value=1.1, max_value=4.0))
def test_goodput_falls_as_the_job_grows(size: int, factor: float) -> None:
    catalog = load_catalog()
    for spares in (64.0, 1e6):  # the same spares for both (auto spares step by whole nodes)
        small, large = job_reliability(catalog, [size, size * factor], hot_spares=spares)["goodput"]
        assert large < small


def test_more_spares_never_lower_goodput(catalog) -> None:
    spares = np.arange(0, 400, 8.0)
    values = job_reliability(catalog, 16384.0, hot_spares=spares)["goodput"]
    assert np.all(np.diff(values) >= -1e-12)
    rates = component_rates(catalog)
    results = [
        simulate(
            16384 * rates["rate_per_accelerator_hour"].to_numpy(),
            rates["hardware"].to_numpy(),
            spare_turnaround_hours(catalog),
            24 * 20,
            0.2,
            0.01,
            0.08,
            nodes,
            50,
            seed=3,
        )["goodput"].mean()
        for nodes in (0, 4, 16, 64)
    ]
    assert np.all(np.diff(results) >= -0.005)


def test_simulator_is_reproducible_and_agrees_with_the_closed_form(catalog) -> None:
    rates = component_rates(catalog)
    arguments = (
        16384 * rates["rate_per_accelerator_hour"].to_numpy(),
        rates["hardware"].to_numpy(),
        spare_turnaround_hours(catalog),
        24 * 54,
        0.22,
        0.5 / MINUTES,
        5 / MINUTES,
        29,
    )
    first, second = (
        simulate(*arguments, replications=400, seed=7),
        simulate(*arguments, replications=400, seed=7),
    )
    assert np.array_equal(first["goodput"], second["goodput"])
    closed = job_reliability(catalog, 16384.0, checkpoint_minutes=0.22 * MINUTES, hot_spares=29 * 8.0)
    assert first["interruptions"].mean() == pytest.approx(
        float(closed["interruptions_per_day"]) * 54, rel=0.02
    )
    assert first["goodput"].mean() == pytest.approx(float(closed["goodput"]), abs=0.005)


@pytest.mark.parametrize("spares", [0, 2, 40])
def test_simulator_agrees_with_simpy(spares: int) -> None:
    rates, hardware = [1.2, 0.6, 0.4], [True, False, True]
    inputs = (rates, hardware, 6.0, 24 * 10.0, 0.5, 0.05, 0.1, spares)
    replications = 150
    ours = simulate(np.array(rates), np.array(hardware), *inputs[2:], replications=replications, seed=11)
    peers = [simpy_job(*inputs, seed=100 + index) for index in range(replications)]
    for key in ("interruptions", "goodput"):
        theirs = np.array([peer[key] for peer in peers])
        spread = np.sqrt(ours[key].var() / replications + theirs.var() / replications) + 1e-9
        assert abs(ours[key].mean() - theirs.mean()) < 4.5 * spread, key


def test_reliability_cli_json() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "neocloud.cli",
            "reliability",
            "--accelerator",
            "h100-sxm",
            "--count",
            "16384",
            "--days",
            "54",
            "--replications",
            "50",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    assert {"interruptions", "interruptions_per_day", "goodput", "checkpoint_minutes"} <= set(result)
    assert 380 < result["interruptions"] < 460
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "neocloud.cli",
            "reliability",
            "--accelerator",
            "h100",
            "--count",
            "8",
            "--days",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "h100-sxm" in bad.stderr


def test_stage_in_pipeline(abilene) -> None:
    summary = run(abilene).summary()
    for key in (
        "interruptions_per_day",
        "goodput",
        "checkpoint_minutes",
        "reference_run_days",
        "reference_run_goodput",
        "spares_accelerators",
        "accelerators_unavailable",
    ):
        assert summary[key] is not None and summary[key] > 0, key
    assert 0 < summary["goodput"] < 1


def _cli_reliability(*args: str) -> dict:
    from typer.testing import CliRunner

    from neocloud.cli import app

    done = CliRunner().invoke(app, ["reliability", *args, "--replications", "50", "--json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.output)


def test_gb200_uses_nvl72_trays_and_gives_a_band() -> None:
    result = _cli_reliability("--accelerator", "gb200", "--count", "131072", "--days", "30")
    assert result["system"] == "gb200-nvl72" and result["failure_domain_accelerators"] == 4
    assert result["method"] in ("closed-form", "simulation")
    assert result["goodput_p10"] < result["goodput"] < result["goodput_p90"]
    assert result["interruptions_p10"] < result["interruptions"] < result["interruptions_p90"]
    assert result["spares_accelerators"] % 4 == 0


def test_few_spares_switch_to_the_simulator() -> None:
    result = _cli_reliability("--accelerator", "h100-sxm", "--count", "16384", "--days", "30",
                              "--hot-spares", "8")
    assert result["method"] == "simulation"
    assert result["spare_shortfall_probability"] > 0.5
    assert result["goodput"] < 0.5 * result["goodput_closed_form"]  # the closed form is far too kind here
    enough = _cli_reliability("--accelerator", "h100-sxm", "--count", "16384", "--days", "30")
    assert enough["method"] == "closed-form" and enough["goodput"] == enough["goodput_closed_form"]


def test_generations_differ(catalog) -> None:
    from neocloud.reliability import generation

    assert generation(catalog, "a100-sxm")[0] > generation(catalog, "h100-sxm")[0]
    assert all(sigma > 0 for sigma in catalog.table("failure_generations")["rate_sigma"])


@settings(max_examples=30, deadline=None)
@given(accelerator=st.sampled_from(["a100-sxm", "h100-sxm", "gb200", "mi355x"]), low=st.floats(0.2, 1.0),
       high=st.floats(1.0, 5.0), size=st.integers(512, 200_000))
def test_higher_rates_never_raise_goodput(accelerator: str, low: float, high: float, size: int) -> None:
    """At the same hot spares, higher failure rates never raise goodput. Spares sized for a probability never
    fall as rates rise; they may gain a node and lift goodput a little (58,524 A100s at 0.998 and 1.0 of the
    catalog's rates: 1,016 then 1,024 spares, goodput 0.70053 then 0.70070)."""
    from neocloud.reliability import failure_domain, generation

    catalog = load_catalog()
    factor, _ = generation(catalog, accelerator)
    domain = failure_domain(catalog, "gb200-nvl72" if accelerator == "gb200" else "hgx-h100-8")
    scales = np.array([low, high]) * factor
    sized = job_reliability(catalog, float(size), scales, node_accelerators=domain)["spares_accelerators"]
    assert sized[1] >= sized[0]
    jobs = job_reliability(catalog, float(size), scales, hot_spares=sized[0], node_accelerators=domain)
    assert jobs["goodput"][1] <= jobs["goodput"][0] + 1e-12
    assert jobs["interruptions_per_day"][1] >= jobs["interruptions_per_day"][0]


@settings(max_examples=25, deadline=None)
@given(campus=st.integers(20_000, 400_000), large=st.integers(1024, 131072))
def test_a_job_mix_never_has_lower_goodput_than_one_campus_job(campus: int, large: int) -> None:
    from types import SimpleNamespace

    from neocloud.reliability import mix_goodput

    catalog = load_catalog()
    job = {"accelerators": np.array([float(campus)]), "failure_rate_scale": np.array([1.0])}
    mix = [SimpleNamespace(accelerators=large, share=0.5), SimpleNamespace(accelerators=1024, share=0.5)]
    whole, _ = mix_goodput(catalog, job, None)
    mixed, largest = mix_goodput(catalog, job, mix)
    assert mixed[0] >= whole[0] - 1e-12 and largest[0] >= whole[0] - 1e-12
    assert mixed[0] >= largest[0] - 1e-12


def test_abilene_goodput_is_its_job_mix() -> None:
    from pathlib import Path

    summary = run(Path(__file__).parents[1] / "examples" / "abilene.yaml").summary()
    assert summary["goodput"] > summary["largest_job_goodput"] > summary["reference_job_goodput"]
    assert summary["goodput"] > 0.7
