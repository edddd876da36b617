"""Tables that fit the terminal (80 columns unless it is wider): pick columns, fold long names.

``--columns a,b,c`` picks columns by name; without it the table shows its first columns and as many
others as fit, and says which it left out (``--json`` prints everything).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from neocloud.errors import ScenarioError

WIDTH = 80
CELL_MAX = 28  # a wider cell is folded onto more lines
PADDING = 2  # spaces between columns in the SIMPLE_HEAD box


def parse_columns(text: str | None, available: Sequence[str]) -> list[str] | None:
    """The columns named in ``--columns a,b,c`` (in that order), or None when none were given."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise ScenarioError(f"'{unknown[0] if unknown else text}' is not a column of this table",
                            field="--columns", value=text, allowed=", ".join(available))
    return names


def _width(header: str, cells: Sequence[str]) -> int:
    longest = max([len(header), *(len(cell) for cell in cells)])
    return min(longest, CELL_MAX) + PADDING


def fitting_columns(headers: Sequence[str], rows: Sequence[Sequence[str]], keep: int = 1,
                    width: int = WIDTH) -> list[str]:
    """The first ``keep`` columns and, in order, every further column that still fits in ``width``."""
    chosen, used = [], 0
    for index, header in enumerate(headers):
        needed = _width(header, [row[index] for row in rows])
        if index < keep or used + needed <= width:
            chosen.append(header)
            used += needed
    return chosen


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
                columns: list[str] | None = None, keep: int = 1, right: Sequence[str] = (),
                console: Console | None = None) -> None:
    """Print ``rows`` under ``headers``: the ``columns`` asked for, else those that fit; name the rest."""
    console = console or Console()
    shown = columns or fitting_columns(headers, rows, keep, max(console.width, WIDTH) if columns else WIDTH)
    index = {header: position for position, header in enumerate(headers)}
    console.print(title, highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for header in shown:
        table.add_column(header, overflow="fold", max_width=CELL_MAX if len(shown) > 1 else None,
                         justify="right" if header in right else "left")
    for row in rows:
        table.add_row(*(row[index[header]] for header in shown))
    console.print(table)
    hidden = [header for header in headers if header not in shown]
    if hidden and columns is None:
        listed = ", ".join(hidden[:8]) + (", ..." if len(hidden) > 8 else "")
        console.print(f"{len(hidden)} more column{'s' if len(hidden) > 1 else ''} ({listed}): "
                      "pick with --columns a,b,c or see all with --json", highlight=False)
