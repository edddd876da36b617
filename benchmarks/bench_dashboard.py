"""Latency of the dashboard's recompute after a change (deterministic Abilene run), p50 and p95.

Each change is one ``POST /api/preview`` through the web application (ASGI, in process): the accelerator
count moves to a new value, so no answer comes from the cache. Baseline: the same change recomputed in
process, as a notebook would: the edited scenario loaded and run (``neocloud.run``, one draw) and its
summary taken, imports and catalog already warm. Context: a full ``neocloud run FILE --json --no-store``
subprocess on an edited scenario file, mostly interpreter start-up and imports.
Usage: ``python benchmarks/bench_dashboard.py [--quick]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import yaml

import neocloud
from neocloud.web import create_app

with warnings.catch_warnings():  # starlette warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "abilene.yaml"


def dashboard_latencies(changes: int) -> list[float]:
    """Seconds per recompute for ``changes`` different accelerator counts, after one warm-up."""
    text = EXAMPLE.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        client = TestClient(create_app(store_url=f"sqlite:///{folder}/runs.db"))
        assert client.post("/api/preview", json={"scenario": text}).status_code == 200
        latencies = []
        for index in range(changes):
            body = {"scenario": text, "inputs": {"accelerators": 200_000 + 1_500 * index}}
            started = time.perf_counter()
            answer = client.post("/api/preview", json=body)
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
    return latencies


def edited(data: dict, index: int) -> dict:
    """The scenario with each phase's systems per building moved by ``index``."""
    for phase in data["campus"]["phases"]:
        phase["systems_per_building"] = 400 + 10 * index
    return data


def in_process_latencies(changes: int) -> list[float]:
    """Seconds per change for an in-process load, run and summary of an edited scenario, after a warm-up."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    latencies = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scenario.yaml"
        for index in range(-1, changes):
            path.write_text(yaml.safe_dump(edited(data, index), sort_keys=False), encoding="utf-8")
            started = time.perf_counter()
            neocloud.run(neocloud.load(path)).summary()
            if index >= 0:
                latencies.append(time.perf_counter() - started)
    return latencies


def subprocess_latencies(changes: int) -> list[float]:
    """Seconds per change for a full ``neocloud run`` subprocess on an edited copy of the scenario."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    latencies = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(changes):
            path = Path(folder) / "scenario.yaml"
            path.write_text(yaml.safe_dump(edited(data, index), sort_keys=False), encoding="utf-8")
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "neocloud.cli", "run", str(path), "--json", "--no-store"],
                check=True,
                capture_output=True,
            )
            latencies.append(time.perf_counter() - started)
    return latencies


def main() -> None:
    """Measure both, print the figures; the last line is the summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer changes (under a minute)")
    arguments = parser.parse_args()
    changes, baseline_changes = (30, 4) if arguments.quick else (100, 10)
    dashboard = np.asarray(dashboard_latencies(changes)) * 1000
    recompute = np.asarray(in_process_latencies(baseline_changes * 2)) * 1000
    baseline = np.asarray(subprocess_latencies(baseline_changes)) * 1000
    print(
        f"dashboard recompute over {changes} changes: p50 {np.percentile(dashboard, 50):.0f} ms, "
        f"p95 {np.percentile(dashboard, 95):.0f} ms, max {dashboard.max():.0f} ms (goal: p95 under 200 ms)"
    )
    print(
        f"context: neocloud run subprocess over {baseline_changes} changes: p50 "
        f"{np.percentile(baseline, 50):.0f} ms, p95 {np.percentile(baseline, 95):.0f} ms, ratio "
        f"{np.percentile(baseline, 95) / np.percentile(dashboard, 95):.0f}x"
    )
    print(
        f"dashboard: p95 {np.percentile(dashboard, 95):.0f} ms per change, in-process recompute "
        f"p95 {np.percentile(recompute, 95):.0f} ms per change ({len(recompute)} changes), "
        f"ratio {np.percentile(recompute, 95) / np.percentile(dashboard, 95):.1f}x"
    )


if __name__ == "__main__":
    main()
