"""Rewrite ``examples.json`` from the current model: ``python -m tests.regression.update``.

Run it only when a change to the model is meant to move the example figures, and say why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_regression import EXAMPLES_JSON, figures

if __name__ == "__main__":
    Path(EXAMPLES_JSON).write_text(json.dumps(figures(), indent=2, sort_keys=True) + "\n")
