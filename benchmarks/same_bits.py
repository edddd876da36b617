"""Whether two trees give the same results, bit for bit: digests of every variable and summary key.

``dump`` runs the examples (Abilene at 10,000 draws; Colossus, IREN Childress, Loughton, Stargate Norway
and Ashburn at 300; the Nscale portfolio programme at 50) and writes, per example, the dataset's variable
order, coordinates and attributes, every variable's dims, dtype, shape, attributes and a SHA-256 of its
bytes, and the JSON summary. ``compare`` prints every difference between two dumps. Run ``dump`` once with
each tree on ``PYTHONPATH`` (e.g. main's and a branch's), then ``compare``.
Usage: ``python benchmarks/same_bits.py dump OUT.pkl [EXAMPLE ...]``;
``python benchmarks/same_bits.py compare BASE.pkl OTHER.pkl``.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1] / "examples"
CASES = (("abilene.yaml", 10_000), ("colossus-memphis.yaml", 300), ("iren-childress.yaml", 300),
         ("loughton.yaml", 300), ("stargate-norway.yaml", 300), ("ashburn.yaml", 300))
PROGRAMME = ("nscale-portfolio.yaml", 50)


def digest(dataset: xr.Dataset) -> dict[str, Any]:
    """Variable order, coordinates, attributes and per variable its dims, dtype, shape, attrs and bytes' hash."""
    out: dict[str, Any] = {"order": [str(key) for key in dataset.data_vars],
                           "coords": [str(key) for key in dataset.coords],
                           "attrs": repr(dataset.attrs), "sizes": repr(dict(dataset.sizes))}
    for name, variable in dataset.variables.items():
        values = np.ascontiguousarray(variable.values)
        content = repr(values.tolist()) if values.dtype == object else hashlib.sha256(values.tobytes()).hexdigest()
        out[f"variable {name}"] = (variable.dims, str(values.dtype), values.shape, content, repr(variable.attrs))
    return out


def dump(path: str, only: list[str]) -> None:
    """Run the examples (those named in ``only``, else all) and write their digests to ``path``."""
    from neocloud.pipeline import run
    from neocloud.programme import load_programme, run_programme

    found: dict[str, Any] = {}
    for name, draws in CASES:
        if not only or name in only:
            results = run(ROOT / name, draws=draws, seed=0)
            found[name] = {"dataset": digest(results.dataset), "summary": json.dumps(results.summary())}
    if not only or PROGRAMME[0] in only:
        programme = run_programme(load_programme(ROOT / PROGRAMME[0]), draws=PROGRAMME[1], seed=0)
        found[PROGRAMME[0]] = {"dataset": digest(programme.dataset),
                               "summary": json.dumps(programme.summary(), default=str),
                               "campuses": [digest(item.dataset) for item in programme.campus_results if item]}
    Path(path).write_bytes(pickle.dumps(found))


def compare(base_path: str, other_path: str) -> int:
    """Print each difference between two dumps; the number of examples that differ."""
    base, other = (pickle.loads(Path(path).read_bytes()) for path in (base_path, other_path))
    differing = 0
    for case, parts in other.items():
        diffs = []
        for part, value in parts.items():
            reference = base.get(case, {}).get(part)
            pairs = zip(reference, value, strict=False) if isinstance(value, list) else [(reference, value)]
            for left, right in pairs:
                if isinstance(right, dict):
                    diffs += [f"{part} {key}" for key in sorted(set(left or {}) | set(right))
                              if (left or {}).get(key) != right.get(key)]
                elif left != right:
                    diffs.append(part)
        print(f"{case}: {'the same bits' if not diffs else 'differs: ' + ', '.join(diffs)}")
        differing += bool(diffs)
    return differing


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(compare(sys.argv[2], sys.argv[3]))
