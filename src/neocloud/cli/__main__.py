"""``python -m neocloud.cli``: the command line."""

from __future__ import annotations

from neocloud.cli import main

main()
