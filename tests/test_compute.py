"""Compute: training FLOPs, MFU calibration, training time, decode and the stage."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neocloud import load_catalog, run
from neocloud.compute import (
    calibrate,
    coefficients_of,
    decode_tokens_per_s,
    leave_one_out,
    train_time,
    training_flops,
)
from neocloud.errors import ScenarioError


def test_training_flops_llama3() -> None:
    six_nd = 6 * 405e9 * 15.6e12
    flops = float(training_flops(405e9, 15.6e12, seq_tokens=8192))
    assert six_nd < flops < 1.1 * six_nd  # attention adds a few percent at 8k context


def test_shipped_coefficients_are_the_fit(catalog) -> None:
    fitted, shipped = calibrate(catalog), coefficients_of(catalog)
    for name, value in fitted.items():
        assert shipped[name] == pytest.approx(value, rel=0.02, abs=1e-5), name


def test_leave_one_out_median_error_within_fifteen_percent(catalog) -> None:
    errors = np.exp(leave_one_out(catalog)["log_error"]) - 1.0
    assert len(errors) >= 15
    assert float(np.median(np.abs(errors))) <= 0.15


def test_wider_models_use_the_chips_better(catalog) -> None:
    small = train_time("h100-sxm", 4096, 8e9, 1e12, catalog=catalog)["mfu"]
    large = train_time("h100-sxm", 4096, 405e9, 1e12, catalog=catalog)["mfu"]
    assert small < 0.8 * large


def test_moe_attention_counts_active_parameters() -> None:
    dense = float(training_flops(400e9, 1e12, seq_tokens=8192))
    moe = float(training_flops(400e9, 1e12, 17e9, seq_tokens=8192))
    assert moe < 0.1 * dense
    given_shape = float(training_flops(400e9, 1e12, 17e9, seq_tokens=8192, layers=48, d_model=5120))
    assert given_shape == pytest.approx(1e12 * (6 * 17e9 + 12 * 48 * 5120 * 8192))


def test_fp4_training_faster_than_fp8_on_blackwell(catalog) -> None:
    fp8 = train_time("gb200", 4096, 70e9, 1e12, precision="fp8", catalog=catalog)["days"]
    fp4 = train_time("gb200", 4096, 70e9, 1e12, precision="fp4", catalog=catalog)["days"]
    assert fp4 < fp8


def test_slower_network_and_restarts_cost_time(catalog) -> None:
    base = train_time("h100-sxm", 16384, 405e9, 1e12, catalog=catalog)
    slow = train_time("h100-sxm", 16384, 405e9, 1e12, network_gbps=50, catalog=catalog)
    flaky = train_time("h100-sxm", 16384, 405e9, 1e12, failure_rate_scale=3, restart_minutes=30, catalog=catalog)
    assert slow["mfu"] < base["mfu"]
    assert flaky["goodput"] < base["goodput"] and flaky["mfu"] == base["mfu"]


def test_train_time_keys_and_llama3(catalog) -> None:
    result = train_time("h100-sxm", 16384, 405e9, 15.6e12, catalog=catalog)
    assert {"days", "gpu_hours", "mfu", "goodput"} <= set(result)
    assert 0.35 < result["mfu"] < 0.45
    assert result["gpu_hours"] == pytest.approx(30.84e6, rel=0.15)
    with pytest.raises(ScenarioError):
        train_time("h100-sxm", 0, 405e9, 15.6e12, catalog=catalog)
    with pytest.raises(ScenarioError, match="fp8"):
        train_time("a100-sxm", 8, 7e9, 1e9, catalog=catalog, precision="fp8")


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["h100-sxm", "b200", "gb200", "a100-sxm"]), st.integers(min_value=64, max_value=65536))
def test_more_accelerators_less_time_but_less_than_in_proportion(accelerator: str, count: int) -> None:
    catalog = load_catalog()
    one = train_time(accelerator, count, 70e9, 2e12, catalog=catalog)
    two = train_time(accelerator, 2 * count, 70e9, 2e12, catalog=catalog)
    assert two["days"] < one["days"]
    assert two["days"] > one["days"] / 2


def test_decode_bounded_by_memory_and_compute(catalog) -> None:
    small = float(decode_tokens_per_s(catalog, "h200-sxm", 8e9, None, 1.0, 131072.0, 4096))
    large = float(decode_tokens_per_s(catalog, "h200-sxm", 405e9, None, 1.0, 516096.0, 4096))
    assert small > large > 0
    peak = catalog.value("accelerators", "h200-sxm", "fp8_tflops") * 1e12
    assert small <= peak / (2 * 8e9)


def test_train_time_cli_json() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "neocloud.cli",
            "train-time",
            "--accelerator",
            "gb200",
            "--count",
            "65536",
            "--params",
            "405e9",
            "--tokens",
            "15e12",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    assert {"days", "gpu_hours", "mfu", "goodput"} <= set(result)
    assert result["gpu_hours"] == pytest.approx(result["days"] * 24 * 65536, rel=1e-9)


def test_stage_outputs(abilene) -> None:
    results = run(abilene)
    data = results.dataset
    assert data["delivered_bf16_pflops"].dims == ("draw", "month")
    assert float(data["delivered_bf16_pflops"].max()) < float(data["peak_bf16_pflops"].max())
    summary = results.summary()
    assert summary["peak_fp8_pflops"] == pytest.approx(2 * summary["peak_bf16_pflops"])
    assert 0 < summary["reference_run_days"] < 365
