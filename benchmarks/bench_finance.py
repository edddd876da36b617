"""Benchmark: NPV, IRR and DSCR of a 20-year monthly project for many draws at once, against numpy-financial
called draw by draw.

Run: ``python benchmarks/bench_finance.py [--quick]``. The last line is the summary.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import numpy_financial as npf

from neocloud.finance.kernels import irr, monthly_rate, npv
from neocloud.finance.statements import dscr

MONTHS = 240
BUILD_MONTHS = 24


def project(draws: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random projects: capex over two years, then CFADS with noise; a level debt service; discount rates."""
    rng = np.random.default_rng(seed)
    flows = rng.normal(1.0, 0.2, (draws, MONTHS)) * rng.uniform(0.8, 1.6, (draws, 1))
    flows[:, :BUILD_MONTHS] = -rng.uniform(6.0, 9.0, (draws, BUILD_MONTHS))
    service = np.zeros((draws, MONTHS))
    service[:, BUILD_MONTHS:] = rng.uniform(0.5, 0.7, (draws, 1))
    return flows, service, rng.uniform(0.06, 0.12, draws)


def vectorised(flows: np.ndarray, service: np.ndarray, rates: np.ndarray) -> tuple[np.ndarray, ...]:
    """NPV, IRR and minimum trailing-12-month DSCR of every draw at once."""
    values = npv(monthly_rate(rates), flows)
    rate, _ = irr(flows)
    cover = dscr(np.maximum(flows, 0.0), service)
    return values, rate, np.nanmin(cover, axis=1)


def per_draw(flows: np.ndarray, service: np.ndarray, rates: np.ndarray) -> tuple[np.ndarray, ...]:
    """The same with numpy-financial, one draw at a time (DSCR by a loop over the months with service)."""
    values, found, lowest = [], [], []
    for row in range(flows.shape[0]):
        values.append(npf.npv((1 + rates[row]) ** (1 / 12) - 1, flows[row]))
        found.append(npf.irr(flows[row]))
        cfads, paid = np.maximum(flows[row], 0.0), service[row]
        ratios = [
            cfads[max(0, month - 11) : month + 1][paid[max(0, month - 11) : month + 1] > 0].sum()
            / paid[max(0, month - 11) : month + 1].sum()
            for month in range(MONTHS)
            if paid[month] > 0
        ]
        lowest.append(min(ratios))
    return np.array(values), np.array(found), np.array(lowest)


def main() -> None:
    """Time both and print the summary line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer draws (under a minute)")
    options = parser.parse_args()
    draws = 20_000 if options.quick else 100_000
    baseline_draws = 40 if options.quick else 200
    flows, service, rates = project(draws)
    vectorised(flows[:100], service[:100], rates[:100])  # warm up
    started = time.perf_counter()
    values, rate, lowest = vectorised(flows, service, rates)
    ours = draws / (time.perf_counter() - started)
    started = time.perf_counter()
    check = per_draw(flows[:baseline_draws], service[:baseline_draws], rates[:baseline_draws])
    theirs = baseline_draws / (time.perf_counter() - started)
    worst = max(
        float(np.max(np.abs(values[:baseline_draws] - check[0]) / np.abs(check[0]))),
        float(np.max(np.abs(rate[:baseline_draws] - check[1]))),
        float(np.max(np.abs(lowest[:baseline_draws] - check[2]))),
    )
    print(
        f"{draws:,} draws x {MONTHS} months; {baseline_draws} baseline draws; max difference {worst:.1e}"
    )
    print(
        f"finance: {ours:.3g} draws/s (NPV, IRR, DSCR), numpy-financial per-draw loop {theirs:.3g} draws/s, "
        f"ratio {ours / theirs:.0f}x"
    )


if __name__ == "__main__":
    main()
