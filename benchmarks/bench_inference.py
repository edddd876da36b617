"""Inference model speed: 100,000 draws of an uncertain serving workload, vectorised against a per-draw loop.

Each draw serves Llama 3.1 70B at FP8 on H200 with its own prompt and output lengths and latency target
(the uncertainty a campus scenario carries). The vectorised model evaluates all draws at once; the
baseline calls it once per draw on a sample of draws (its rate per draw extrapolates). Prints draws
per second of both and the ratio as the last line.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from neocloud import load_catalog
from neocloud.inference import CONSTANTS, coefficients_of, hardware, model_shape, parameter, serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run (under a minute)")
    arguments = parser.parse_args()
    draws, loop_draws = (20_000, 100) if arguments.quick else (100_000, 500)
    catalog = load_catalog()
    hw, shape = hardware(catalog, "h200-sxm", "fp8"), model_shape(catalog, "llama3.1-70b")
    constants = {name: parameter(catalog, name) for name in CONSTANTS}
    coefficients = coefficients_of(catalog)
    rng = np.random.default_rng(0)
    inputs = rng.lognormal(np.log(1500.0), 0.6, draws)
    outputs = rng.lognormal(np.log(400.0), 0.5, draws)
    tpot = rng.uniform(30.0, 120.0, draws)
    start = time.perf_counter()
    together = serve(hw, shape, inputs, outputs, 2000.0, tpot, constants, coefficients)
    ours = draws / (time.perf_counter() - start)
    start = time.perf_counter()
    for index in range(loop_draws):
        alone = serve(hw, shape, inputs[index], outputs[index], 2000.0, tpot[index], constants, coefficients)
        assert np.isclose(alone["tokens_per_s_per_accelerator"][0], together["tokens_per_s_per_accelerator"][index],
                          equal_nan=True)
    loop = loop_draws / (time.perf_counter() - start)
    median = float(np.nanmedian(together["tokens_per_s_per_accelerator"]))
    print(f"{draws} draws; median {median:,.0f} tokens/s per accelerator")
    print(f"inference: {ours:.3g} draws/s, per-draw loop {loop:.3g} draws/s, ratio {ours / loop:.0f}x")


if __name__ == "__main__":
    main()
