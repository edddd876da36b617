"""The build-out optimiser: exact against brute force, clear when short, strict on input, and its CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from neocloud.calendar import quarter_index, quarter_label
from neocloud.cli import main
from neocloud.errors import ScenarioError
from neocloud.optimize import load_portfolio, optimize, unit_economics, validate_portfolio
from neocloud.optimize.greedy import plan_cost_usd
from neocloud.optimize.model import Inputs, build_model, gap_progress, prepare, solve_model
from neocloud.optimize.solve import greedy_start, plan_of
from neocloud.report.optimize import render_optimization

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def small(**changes: Any) -> dict[str, Any]:
    """Two sites, two designs, six quarters: small enough to enumerate every plan."""
    data: dict[str, Any] = {
        "kind": "portfolio",
        "name": "small",
        "start": "2025-Q1",
        "quarters": 6,
        "sites": [
            {
                "id": "abilene",
                "climate": "abilene-tx",
                "region": "ercot-tx",
                "latency_group": "us",
                "power_mw_by_date": {"2025-01": 200, "2025-10": 320},
                "max_buildings": 2,
            },
            {
                "id": "lordstown",
                "climate": "lordstown-oh",
                "region": "pjm",
                "latency_group": "us",
                "power_mw_by_date": {"2025-01": 400},
                "interconnect_lead_months": 6,
                "max_buildings": 2,
                "fixed_cost_usd": 3.0e8,
            },
        ],
        "designs": [
            {
                "id": "gb200",
                "system": "gb200-nvl72",
                "cooling": "direct-liquid",
                "systems_per_building": 694,
                "construction_months": 6,
            },
            {
                "id": "hall",
                "system": "gb300-nvl72",
                "cooling": "direct-liquid",
                "systems_per_building": 200,
                "construction_months": 3,
            },
        ],
        "demand": [
            {
                "tenant": "openai",
                "region": "us",
                "accelerators_by_quarter": {"2025-Q3": 40000, "2025-Q4": 60000, "2026-Q2": 110000},
            }
        ],
    }
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def economics() -> dict:
    """Unit economics of the small portfolio (they do not depend on demand, budget or supply)."""
    return unit_economics(validate_portfolio(small()))


def brute_force(inputs: Inputs) -> tuple[float, list[np.ndarray]]:
    """The least objective over every plan (at most max_buildings per site), and the plans that reach it."""
    sites, designs, quarters = inputs.valid.shape
    options = [
        [(d, t) for d in range(designs) for t in range(quarters) if inputs.valid[s, d, t]]
        for s in range(sites)
    ]
    per_site = []
    for s in range(sites):
        choices = [()]
        for count in range(1, inputs.max_buildings[s] + 1):
            choices += list(itertools.combinations_with_replacement(options[s], count))
        per_site.append(choices)
    best, plans = np.inf, []
    for combination in itertools.product(*per_site):
        builds = np.zeros(inputs.valid.shape)
        for s, chosen in enumerate(combination):
            for d, t in chosen:
                builds[s, d, t] += 1
        online = np.cumsum(builds, axis=2)
        if ((online * inputs.utility_mw_per_building[:, :, None]).sum(axis=1) > inputs.power_mw + 1e-6).any():
            continue
        installed = (builds * inputs.accelerators_per_building[:, :, None]).sum(axis=(0, 1))
        if (installed > inputs.supply + 1e-6).any():
            continue
        spent = [
            (builds * inputs.capex_facility_usd[:, :, None] * (inputs.start_year == year)[None]).sum()
            + (builds * inputs.capex_it_usd[:, :, None] * (inputs.online_year == year)[None, None]).sum()
            for year in inputs.budget_years
        ]
        if any(amount > budget + 1e-3 for amount, budget in zip(spent, inputs.budget_usd, strict=True)):
            continue
        capacity = np.zeros_like(inputs.demand)
        for g, group in enumerate(inputs.groups):
            members = inputs.group_of_site == group
            capacity[g] = (online[members] * inputs.capacity_per_building[members][:, :, None]).sum(
                axis=(0, 1)
            )
        value = (
            (builds * inputs.cost_usd).sum()
            + inputs.fixed_cost_usd[builds.sum(axis=(1, 2)) > 0].sum()
            + (inputs.penalty * np.maximum(inputs.demand - capacity, 0)).sum()
        )
        if not np.isfinite(best) or value < best - 1e-9 * abs(best):
            best, plans = value, [builds]
        elif value <= best + 1e-9 * abs(best):
            plans.append(builds)
    return best, plans


CASES = {
    "least-cost": {},
    "capital-budget": {"capital_usd_by_year": {"2025": 6.0e9}},
    "gpu-supply": {"gpu_supply_by_quarter": {"2025-Q3": 30000, "2025-Q4": 30000}},
    "short": {
        "demand": [{"tenant": "openai", "region": "us", "accelerators_by_quarter": {"2025-Q2": 200000}}]
    },
    "max-npv": {"objective": "max_npv", "price_usd_per_gpu_hour": 3.6},
}


@pytest.mark.parametrize("case", list(CASES))
def test_milp_equals_brute_force(case: str, economics: dict) -> None:
    portfolio = validate_portfolio(small(**CASES[case]))
    inputs = prepare(portfolio, economics)
    outcome = solve_model(build_model(inputs), gap=0.0)
    best, plans = brute_force(inputs)
    assert outcome.status == "optimal"
    assert outcome.objective == pytest.approx(best, rel=1e-7)
    builds = np.round(np.nan_to_num(outcome.model.variables["build"].solution.values))
    assert any(np.array_equal(builds, plan) for plan in plans)
    assert len(plan_of(inputs, builds)) >= (1 if case != "short" else 0)


@pytest.mark.parametrize("case", ["least-cost", "capital-budget", "gpu-supply", "max-npv"])
def test_milp_from_the_greedy_start_equals_brute_force(case: str, economics: dict) -> None:
    inputs = prepare(validate_portfolio(small(**CASES[case])), economics)
    start = greedy_start(inputs)
    outcome = solve_model(build_model(inputs), gap=0.0, start=start)
    assert outcome.status == "optimal"
    assert outcome.objective == pytest.approx(brute_force(inputs)[0], rel=1e-7)
    if case != "capital-budget":  # the greedy plan ignores budgets; elsewhere it is feasible, so never beaten
        assert outcome.objective <= plan_cost_usd(inputs, start["build"]) * (1 + 1e-9)


def test_the_model_has_no_phase_variable_and_links_open_once_per_site(economics: dict) -> None:
    data = small()
    data["sites"][0]["fixed_cost_usd"] = 3e8
    inputs = prepare(validate_portfolio(data), economics)
    model = build_model(inputs)
    assert "phase" not in model.variables and "open" in model.variables
    assert model.constraints["max_buildings"].shape == (len(inputs.sites),)
    assert not any(name.startswith(("phase_", "open_link")) for name in model.constraints)


def test_gap_progress_is_read_from_the_solver_log() -> None:
    rows = [
        "Src  Proc. InQueue |  Leaves   Expl. | BestBound       BestSol              Gap |   Cuts   LpIters     Time",
        "         0       0         0   0.00%   0               40403127199.41   100.00%        0         0     0.2s",
        "         0       0         0   0.00%   -inf            inf                  inf        0         0     0.1s",
        " L       0       0         0   0.00%   35628830732.23  36238026063.9      1.68%     2455      1364     5.0s",
        "  Gap               1.68% (tolerance: 0.01%)",
    ]
    log = "\n".join(rows)
    assert gap_progress(log) == [(0.2, 1.0), (5.0, 0.0168)]


def test_instances_are_not_trivial(economics: dict) -> None:
    """The brute-force cases enumerate hundreds of plans and the constraints change the answer."""
    answers = {}
    for case in ("least-cost", "capital-budget", "gpu-supply"):
        inputs = prepare(validate_portfolio(small(**CASES[case])), economics)
        answers[case] = brute_force(inputs)[0]
    assert answers["capital-budget"] > answers["least-cost"]
    assert answers["gpu-supply"] > answers["least-cost"]


def test_plan_through_pipeline_matches_unit_economics(economics: dict) -> None:
    portfolio = validate_portfolio(small())
    result = optimize(portfolio)
    assert result["status"] == "optimal" and not result["unmet_demand"]
    capex = sum(
        economics[(row["site"], row["design"])].capex_usd * row["buildings"] for row in result["plan"]
    )
    accelerators = sum(
        economics[(row["site"], row["design"])].accelerators * row["buildings"] for row in result["plan"]
    )
    assert result["realised"]["capex_usd"] == pytest.approx(capex, rel=1e-9)
    assert result["realised"]["accelerators"] == round(accelerators)
    assert result["objective_usd"] == pytest.approx(result["present_cost_usd"], rel=1e-6)
    html = render_optimization(result, portfolio)
    assert html.startswith("<!DOCTYPE html>") and "Plotly" in html and "<script src=" not in html


def test_short_portfolio_names_the_quarters_and_why() -> None:
    data = small(
        demand=[
            {
                "tenant": "openai",
                "region": "us",
                "accelerators_by_quarter": {"2025-Q1": 10000, "2025-Q4": 500000},
            }
        ]
    )
    result = optimize(validate_portfolio(data), realised=False)
    assert result["status"] == "infeasible"
    short = {row["quarter"] for row in result["unmet_demand"]}
    assert {"2025-Q1", "2025-Q4", "2026-Q2"} <= short
    message = result["message"]
    assert message.startswith("demand cannot be met: region 'us' is short in 2025-Q1")
    assert "lead times" in message and "power at abilene" in message
    assert "\n" not in message and "HiGHS" not in message


def test_shadow_price_of_power_is_positive_where_power_binds(economics: dict) -> None:
    data = small(demand=[{"tenant": "openai", "region": "us", "accelerators_by_quarter": {"2025-Q4": 90000}}])
    result = optimize(validate_portfolio(data), realised=False)
    binding = [item for item in result["shadow_prices"]["binding"] if item["constraint"] == "site_power"]
    assert result["shadow_prices"]["status"] == "optimal"
    assert all(item["value_usd"] > 0 for item in binding)
    assert set(result["shadow_prices"]["site_power_usd_per_mw"]) == {"abilene", "lordstown"}


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"sites": [{**small()["sites"][0], "climate": "abilene-txx"}]},
            r"sites\.0\.climate: 'abilene-txx' is not a known climate \(did you mean 'abilene-tx'\?\)",
        ),
        ({"start": "2025-Q5"}, r"start: '2025-Q5': '2025-Q5' is not a quarter written YYYY-Qn"),
        (
            {"demand": [{"tenant": "x", "region": "eu", "accelerators_by_quarter": {"2025-Q3": 1}}]},
            r"demand\.0\.region: 'eu' is not the latency_group of any site; allowed: us",
        ),
        (
            {"demand": [{"tenant": "x", "region": "us", "accelerators_by_quarter": {"2031-Q1": 1}}]},
            r"2031-Q1' is after the plan's last quarter 2026-Q2",
        ),
        ({"objective": "max_npv"}, r"price_usd_per_gpu_hour: is required when objective is max_npv"),
        (
            {"designs": [{**small()["designs"][0], "cooling": "air"}]},
            r"designs\.0: design 'gb200' at site 'abilene'",
        ),
        ({"quarters": 0}, r"quarters: 0: input should be greater than or equal to 1"),
        (
            {"sites": [{**small()["sites"][0], "max_building": 3}]},
            r"is not a known field \(did you mean 'max_buildings'",
        ),
    ],
)
def test_bad_portfolio_is_one_line_error(changes: dict, match: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(small(**changes), sort_keys=False), encoding="utf-8")
    with pytest.raises(ScenarioError, match=match) as caught:
        portfolio = load_portfolio(path)
        unit_economics(portfolio)
    assert "\n" not in str(caught.value)


def test_quarter_arithmetic() -> None:
    assert quarter_index("2025-Q3", "2026-Q1") == 2
    assert quarter_label("2025-Q3", 2) == "2026-Q1"
    assert all(quarter_index("2024-Q2", quarter_label("2024-Q2", index)) == index for index in range(40))


def test_cli_json_keys_and_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small(), sort_keys=False), encoding="utf-8")
    try:
        main(
            [
                "optimize",
                str(path),
                "--json",
                "--time-limit",
                "30",
                "--gap",
                "0",
                "--out",
                str(tmp_path / "out"),
            ]
        )
    except SystemExit as exited:
        assert exited.code in (0, None)
    result = json.loads(capsys.readouterr().out)
    assert {"status", "objective_usd", "gap", "solve_seconds", "plan", "unmet_demand", "realised"} <= set(
        result
    )
    assert set(result["plan"][0]) >= {"site", "design", "buildings", "start_quarter"}
    assert (tmp_path / "out" / "report.html").exists()
    assert json.loads((tmp_path / "out" / "plan.json").read_text())["plan"] == result["plan"]


def test_cli_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(small(quarters="many")), encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["optimize", str(path), "--json"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_example_portfolio_loads() -> None:
    portfolio = load_portfolio(EXAMPLES / "stargate-portfolio.yaml")
    assert {site.id for site in portfolio.sites} >= {"abilene-expansion", "narvik", "loughton", "lordstown"}
