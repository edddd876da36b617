#!/usr/bin/env bash
# Set up and run the tests: lint, type-check, then pytest on both cores. As root, installs Debian's Chromium and
# PostgreSQL for the browser and database tests when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  if ! command -v chromium >/dev/null 2>&1 || ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium postgresql >/dev/null
  fi
fi
bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy src/neocloud
.venv/bin/pytest -n 2 -q "$@"
