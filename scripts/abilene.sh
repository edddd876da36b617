#!/usr/bin/env bash
# The main job: set up, then run the Abilene campus, print its summary and write results and report to out/abilene.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/neocloud run examples/abilene.yaml --out out/abilene
