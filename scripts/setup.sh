#!/usr/bin/env bash
# Set up neocloud on a fresh machine: a virtual environment in .venv with the package, every optional extra
# (report, web, opt, dask) and the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[all,test]'
