"""Benchmark: NPV, IRR and DSCR of a 20-year monthly project for many draws at once, against a per-draw loop
that a competent engineer would write.

The baseline takes each draw in turn with plain numpy: NPV as a dot product with precomputed discount
factors, the IRR by Brent's method (``scipy.optimize.brentq``) on that NPV over a bracket from -50% to 100%
a month (numpy-financial's ``irr`` finds the roots of a 240-degree polynomial, far slower, so it checks
the results and is timed as a context line), and the trailing-twelve-month DSCR with ``np.convolve``.

Both sides are timed ``REPEATS`` times and the fastest counts; the vectorised side works on blocks of
``BENCH_BLOCK_DRAWS`` draws so that its temporaries stay in cache. Rates per CPU-second are printed beside the
wall-clock ones: on a shared machine they move less from run to run.

Run: ``python benchmarks/bench_finance.py [--quick]``. The last line is the summary.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import numpy_financial as npf
from scipy.optimize import brentq

from neocloud.blocks import blocks
from neocloud.finance.kernels import dscr, irr, monthly_rate, npv

MONTHS = 240
BUILD_MONTHS = 24
BENCH_BLOCK_DRAWS = 1024  # draws per pass: every (draw, month) temporary of a pass stays in cache
REPEATS = 3  # each side is timed this many times; the fastest counts (the machine is shared)


def project(draws: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random projects: capex over two years, then CFADS with noise; a level debt service; discount rates."""
    rng = np.random.default_rng(seed)
    flows = rng.normal(1.0, 0.2, (draws, MONTHS)) * rng.uniform(0.8, 1.6, (draws, 1))
    flows[:, :BUILD_MONTHS] = -rng.uniform(6.0, 9.0, (draws, BUILD_MONTHS))
    service = np.zeros((draws, MONTHS))
    service[:, BUILD_MONTHS:] = rng.uniform(0.5, 0.7, (draws, 1))
    return flows, service, rng.uniform(0.06, 0.12, draws)


def vectorised(flows: np.ndarray, service: np.ndarray, rates: np.ndarray) -> tuple[np.ndarray, ...]:
    """NPV, IRR and minimum trailing-12-month DSCR of every draw, a cache-sized block of draws at a time."""
    values, rate, lowest = (np.empty(flows.shape[0]) for _ in range(3))
    for rows in blocks(flows.shape[0], BENCH_BLOCK_DRAWS):
        values[rows] = npv(monthly_rate(rates[rows]), flows[rows])
        rate[rows] = irr(flows[rows])[0]
        lowest[rows] = np.nanmin(dscr(np.maximum(flows[rows], 0.0), service[rows]), axis=1)
    return values, rate, lowest


def per_draw(flows: np.ndarray, service: np.ndarray, rates: np.ndarray) -> tuple[np.ndarray, ...]:
    """The same one draw at a time: dot-product NPV, Brent's method for the IRR, DSCR by convolution."""
    period = np.arange(MONTHS)
    window = np.ones(12)
    values, found, lowest = [], [], []
    for row in range(flows.shape[0]):
        cash = flows[row]
        monthly = (1 + rates[row]) ** (1 / 12) - 1
        values.append(cash @ (1 + monthly) ** -period)
        found.append(brentq(lambda rate, cash=cash: cash @ (1 + rate) ** -period, -0.5, 1.0, xtol=1e-14))
        paid = service[row]
        earned = np.convolve(np.where(paid > 0, np.maximum(cash, 0.0), 0.0), window)[:MONTHS]
        owed = np.convolve(paid, window)[:MONTHS]
        lowest.append((earned[paid > 0] / owed[paid > 0]).min())
    return np.array(values), np.array(found), np.array(lowest)


def numpy_financial(flows: np.ndarray, rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NPV and IRR of a few draws with numpy-financial, to check both loops."""
    values = [npf.npv((1 + rate) ** (1 / 12) - 1, row) for row, rate in zip(flows, rates, strict=True)]
    return np.array(values), np.array([npf.irr(row) for row in flows])


def fastest(work: Callable[[], object]) -> tuple[float, float]:
    """The shortest wall-clock and the shortest CPU time (this process, all threads) of ``REPEATS`` runs of
    ``work``, in seconds. On a shared machine the CPU time is the steadier of the two."""
    wall, cpu = [], []
    for _ in range(REPEATS):
        started, used = time.perf_counter(), time.process_time()
        work()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    return min(wall), min(cpu)


def main() -> None:
    """Time both and print the summary line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer draws (under a minute)")
    options = parser.parse_args()
    draws = 20_000 if options.quick else 100_000
    baseline_draws = 40 if options.quick else 200
    flows, service, rates = project(draws)
    vectorised(flows[:100], service[:100], rates[:100])  # warm up
    ours_wall, ours_cpu = fastest(lambda: vectorised(flows, service, rates))
    ours = draws / ours_wall
    values, rate, lowest = vectorised(flows, service, rates)
    few = slice(0, baseline_draws)
    theirs_wall, theirs_cpu = fastest(lambda: per_draw(flows[few], service[few], rates[few]))
    theirs = baseline_draws / theirs_wall
    check = per_draw(flows[few], service[few], rates[few])
    started = time.perf_counter()
    reference = numpy_financial(flows[:5], rates[:5])
    context = 5 / (time.perf_counter() - started)
    worst = max(
        float(np.max(np.abs(values[:baseline_draws] - check[0]) / np.abs(check[0]))),
        float(np.max(np.abs(rate[:baseline_draws] - check[1]))),
        float(np.max(np.abs(lowest[:baseline_draws] - check[2]))),
        float(np.max(np.abs(values[:5] - reference[0]) / np.abs(reference[0]))),
        float(np.max(np.abs(rate[:5] - reference[1]))),
    )
    print(
        f"{draws:,} draws x {MONTHS} months; {baseline_draws} baseline draws; max difference {worst:.1e}"
    )
    print(f"context: numpy-financial per-draw loop (npf.npv, npf.irr) {context:.3g} draws/s, "
          f"ratio {ours / context:.0f}x")
    print(
        f"per CPU-second (steadier on a shared machine): {draws / ours_cpu:.3g} draws/s against "
        f"{baseline_draws / theirs_cpu:.3g} draws/s, ratio {theirs_cpu / baseline_draws * draws / ours_cpu:.0f}x"
    )
    print(
        f"finance: {ours:.3g} draws/s (NPV, IRR, DSCR), per-draw loop (numpy, brentq) {theirs:.3g} draws/s, "
        f"ratio {ours / theirs:.0f}x"
    )


if __name__ == "__main__":
    main()
