"""Start-up wall time of the quick commands beside a bare ``python -c pass``.

Each command runs in a fresh interpreter, ``--runs`` times (after one untimed warm-up that fills the
file cache); the median wall and CPU times are printed with their ratios to the bare interpreter's, and whether the
wall time is under the 1 s the command line promises. The commands are those a user types most: ``--help``,
``validate`` on the Abilene example and ``size``. Usage: ``python benchmarks/bench_cli.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.0
COMMANDS = {
    "neocloud --help": ["--help"],
    "neocloud validate examples/abilene.yaml": ["validate", "examples/abilene.yaml"],
    "neocloud size --accelerator h100-sxm --count 1000": ["size", "--accelerator", "h100-sxm", "--count", "1000"],
}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system), in s, of ``python argv`` over ``runs`` runs,
    after one warm-up run. On a shared machine the CPU time is the steadier of the two."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    walls, cpus = [], []
    for index in range(runs + 1):
        start, cpu = time.perf_counter(), _children_cpu_s()
        subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        if index:
            walls.append(time.perf_counter() - start)
            cpus.append(_children_cpu_s() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    """Print each command's median start-up wall time, its ratio to ``python -c pass`` and the 1 s check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (median taken)")
    runs = parser.parse_args().runs
    bare, bare_cpu = timed(["-c", "pass"], runs)
    print(f"{'command':<52} {'wall':>8} {'ratio':>7} {'cpu':>8} {'ratio':>7}  wall under 1 s")
    print(f"{'python -c pass':<52} {bare:7.3f}s {1:6.1f}x {bare_cpu:7.3f}s {1:6.1f}x")
    for name, args in COMMANDS.items():
        wall, cpu = timed(["-m", "neocloud.cli", *args], runs)
        verdict = "yes" if wall < TARGET_S else "no"
        print(f"{name:<52} {wall:7.3f}s {wall / bare:6.1f}x {cpu:7.3f}s {cpu / bare_cpu:6.1f}x  {verdict}")


if __name__ == "__main__":
    main()
