"""Inference: the serving roofline, its CLI, its calibration and its invariants."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from neocloud.cli import app
from neocloud.errors import ScenarioError
from neocloud.inference import (
    coefficients_of,
    fitted_rows,
    hardware,
    infer,
    model_shape,
    parameter,
    predict,
    serve,
)

KEYS = {"tokens_per_s_per_accelerator", "ttft_ms", "tpot_ms", "tokens_per_mwh", "usd_per_million_tokens"}
FP4_ACCELERATORS = ["b200", "b300", "gb200", "gb300", "mi355x"]


def _cli(args: list[str]) -> dict[str, float]:
    result = CliRunner().invoke(app, ["inference", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize(("accelerator", "precision", "reported"), [
    ("h100-sxm", "fp8", 3065.6),  # MLPerf Inference v4.1, NVIDIA 8 x H100, Llama 2 70B offline
    ("gb200", "fp4", 12934.2),  # MLPerf Inference v5.1, NVIDIA GB200, Llama 2 70B offline
])
def test_cli_within_twenty_percent_of_mlperf(accelerator: str, precision: str, reported: float) -> None:
    data = _cli(["--accelerator", accelerator, "--model", "llama2-70b", "--input-tokens", "294",
                 "--output-tokens", "294", "--precision", precision])
    assert set(data) >= KEYS
    assert data["tokens_per_s_per_accelerator"] == pytest.approx(reported, rel=0.20)


def test_cli_params_form_and_costs() -> None:
    data = _cli(["--accelerator", "h100-sxm", "--params", "70e9", "--input-tokens", "2048",
                 "--output-tokens", "128", "--precision", "fp8"])
    assert 100 < data["tokens_per_s_per_accelerator"] < 3000
    assert data["usd_per_million_tokens"] == pytest.approx(
        data["usd_per_gpu_hour"] / (data["tokens_per_s_per_accelerator"] * 3600) * 1e6)
    assert data["tokens_per_mwh"] == pytest.approx(
        data["tokens_per_s_per_accelerator"] * 3600 / (data["accelerator_power_w"] / 1e6))


@pytest.mark.parametrize("args", [
    ["--accelerator", "h100-sxm", "--params", "70e9", "--input-tokens", "100", "--output-tokens", "100",
     "--precision", "fp4"],
    ["--accelerator", "h100-sxm", "--model", "gpt-9", "--input-tokens", "100", "--output-tokens", "100"],
    ["--accelerator", "h100-sxm", "--params", "70e9", "--input-tokens", "-1", "--output-tokens", "100"],
    ["--accelerator", "h100-sxm", "--params", "70e9", "--active-params", "80e9", "--input-tokens", "1",
     "--output-tokens", "1"],
    ["--accelerator", "h100-sxm", "--params", "2e12", "--input-tokens", "100", "--output-tokens", "100",
     "--tpot-ms", "1"],
])
def test_mistakes_exit_2(args: list[str]) -> None:
    from neocloud.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["inference", *args])
    assert exit_info.value.code == 2


def test_latency_targets_are_met(catalog) -> None:
    result = infer("h200-sxm", 1000, 500, model="llama3.1-70b", ttft_ms=1000, tpot_ms=30, catalog=catalog)
    margin = parameter(catalog, "latency_margin")
    assert result["tpot_ms"] <= 30 * margin and result["ttft_ms"] <= 1000 * margin
    loose = infer("h200-sxm", 1000, 500, model="llama3.1-70b", catalog=catalog)
    assert loose["tokens_per_s_per_accelerator"] > result["tokens_per_s_per_accelerator"]


def test_fitted_median_error_within_twenty_percent(catalog) -> None:
    errors = np.exp(predict(catalog, fitted_rows(catalog), coefficients_of(catalog))["log_error"]) - 1.0
    assert float(np.median(np.abs(errors))) <= 0.20


def test_vectorised_equals_row_by_row(catalog) -> None:
    hw = hardware(catalog, "b200", "fp4")
    shape = model_shape(catalog, "deepseek-r1")
    inputs, outputs = np.array([500.0, 2000.0, 8000.0]), np.array([2000.0, 500.0, 1000.0])
    together = serve(hw, shape, inputs, outputs, 2000.0, 100.0, catalog=catalog)
    for index in range(3):
        alone = serve(hw, shape, inputs[index], outputs[index], 2000.0, 100.0, catalog=catalog)
        for key, values in together.items():
            assert values[index] == pytest.approx(alone[key][0]), key


@settings(max_examples=25, deadline=None)
@given(cap=st.integers(1, 4096), inputs=st.integers(50, 8000), outputs=st.integers(50, 4000),
       tpot=st.floats(5.0, 500.0))
def test_throughput_rises_with_batch_until_latency_binds(cap: int, inputs: int, outputs: int, tpot: float) -> None:
    from neocloud.catalog import load_catalog

    catalog = load_catalog()
    hw, shape = hardware(catalog, "h200-sxm", "fp8"), model_shape(catalog, "llama3.1-70b")
    constants = {name: parameter(catalog, name) for name in (
        "kv_bytes_per_element", "hbm_usable_frac", "allreduce_latency_us", "activation_bytes")}
    rates, tpots = [], []
    for batch_cap in (cap, 2 * cap):
        result = serve(hw, shape, inputs, outputs, tpot_ms=tpot, catalog=catalog,
                       constants={**constants, "max_batch_sequences": batch_cap},
                       coefficients=coefficients_of(catalog))
        rates.append(np.nan_to_num(result["tokens_per_s_per_accelerator"][0]))
        tpots.append(result["tpot_ms"][0])
    assert rates[1] >= rates[0] * (1 - 1e-12)  # a larger batch allowed never serves fewer tokens
    if np.isfinite(tpots[1]):
        assert tpots[1] <= tpot * parameter(catalog, "latency_margin") * (1 + 1e-9)  # the target binds


@settings(max_examples=30, deadline=None)
@given(accelerator=st.sampled_from(FP4_ACCELERATORS), model=st.sampled_from(
    ["llama2-70b", "llama3.1-8b", "llama3.1-70b", "llama3.1-405b", "mixtral-8x7b", "deepseek-r1"]),
       inputs=st.integers(16, 32000), outputs=st.integers(16, 8000),
       tpot=st.one_of(st.just(np.inf), st.floats(20.0, 300.0)))
def test_fp4_never_slower_than_fp8(accelerator: str, model: str, inputs: int, outputs: int, tpot: float) -> None:
    from neocloud.catalog import load_catalog

    catalog = load_catalog()
    shape = model_shape(catalog, model)
    rates = [np.nan_to_num(serve(hardware(catalog, accelerator, precision), shape, inputs, outputs, tpot_ms=tpot,
                                 catalog=catalog)["tokens_per_s_per_accelerator"][0])
             for precision in ("fp8", "fp4")]
    assert rates[1] >= rates[0] * (1 - 1e-12)


def test_unknown_precision_is_a_scenario_error(catalog) -> None:
    with pytest.raises(ScenarioError, match="precision"):
        hardware(catalog, "h100-sxm", "int3")



EXAMPLES = __import__("pathlib").Path(__file__).parents[1] / "examples"


def _with_workload(tmp_path, name: str, **workload: object) -> str:
    import yaml

    data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    data["workload"] = {**data.get("workload", {}), **workload}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_run_reports_the_serving_share(tmp_path) -> None:
    from neocloud import run

    summary = run(_with_workload(tmp_path, "loughton", kind="mixed", serve_model="llama3.1-70b",
                                 serve_input_tokens=2000, serve_output_tokens=500, serve_tpot_ms=50)).summary()
    assert summary["serving_accelerators"] == pytest.approx(0.5 * summary["accelerators"])
    assert summary["tokens_per_s"] == pytest.approx(
        summary["serving_accelerators"] * summary["tokens_per_s_per_accelerator"])
    assert summary["usd_per_million_tokens"] == pytest.approx(
        summary["cost_usd_per_gpu_hour"] / (summary["tokens_per_s_per_accelerator"] * 3600) * 1e6)
    assert summary["serve_tpot_ms"] <= 50
    assert summary["tokens_per_mwh"] > 0


def test_training_campus_serves_nothing(tmp_path) -> None:
    from neocloud import run

    summary = run(_with_workload(tmp_path, "colossus-memphis", kind="training")).summary()
    assert summary["tokens_per_s"] == 0 and summary["serving_accelerators"] == 0


def test_unknown_served_model_names_its_field(tmp_path) -> None:
    from neocloud import run

    with pytest.raises(ScenarioError, match=r"workload\.serve_model"):
        run(_with_workload(tmp_path, "loughton", serve_model="gpt-9"))
