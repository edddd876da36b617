"""Finance per draw on one block of Abilene draws, as a run in chunks computes it: CPU time of
``finance.finance_block`` on the upstream a chunk hands it.

A process runs ``pipeline.run`` of ``--draws`` Abilene draws (the summary only, finance in one block) to
catch the arguments of ``finance_block``, then times ``--calls`` more calls of it (``time.process_time``) and
prints the best and the median in microseconds a draw, with the CPU time of the first run (finance's
first call in a process included: compiling or loading its compiled kernels). Run it alternately with two trees on
``PYTHONPATH`` to compare them. ``--keep-freed-memory``: keep freed memory for reuse, as chunk workers do.
Usage: ``python benchmarks/finance_block.py [--draws 2048] [--calls 7] [--keep-freed-memory]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "abilene.yaml"


def main() -> None:
    """Time ``finance_block`` on a caught block of Abilene draws and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2048)
    parser.add_argument("--calls", type=int, default=7)
    parser.add_argument("--keep-freed-memory", action="store_true")
    options = parser.parse_args()
    import neocloud
    import neocloud.finance as finance
    from neocloud import pipeline
    from neocloud.load import scenario_catalog
    from neocloud.sweep import keep_freed_memory

    if options.keep_freed_memory:
        keep_freed_memory()
    scenario = neocloud.load(EXAMPLE)
    catalog = scenario_catalog(scenario)
    original = finance.finance_block
    caught: list[tuple[Any, ...]] = []

    def catch(*args: Any) -> Any:
        """The stage's per-draw part, its arguments kept."""
        caught.append(args)
        return original(*args)

    finance.finance_block = catch  # type: ignore[assignment]
    finance.PER_DRAW_PART = catch
    start = time.process_time()
    pipeline.run(scenario, draws=options.draws, seed=0, catalog=catalog, summary_only=True)
    first_run = time.process_time() - start
    finance.finance_block = original
    finance.PER_DRAW_PART = original
    args = caught[0]
    draws = args[2].sizes["draw"]
    times = []
    for _ in range(options.calls):
        start = time.process_time()
        original(*args)
        times.append(time.process_time() - start)
    per_draw = np.array(times) / draws * 1e6
    print(f"finance_block on {draws:,} Abilene draws: best {per_draw.min():.1f} us/draw, median "
          f"{np.median(per_draw):.1f} (CPU, {options.calls} calls); the first run, finance's first call "
          f"included, {first_run:.2f} s CPU")


if __name__ == "__main__":
    main()
