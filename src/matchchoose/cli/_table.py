"""Tables that never cut an id or a number, at any terminal width.

Rich shrinks a table that is wider than the terminal by wrapping, then by cutting cells with an
ellipsis. Ids (models, datasets, hub ids) and numbers must be read whole, so their columns are
``exact``: they never wrap and never shrink below their longest cell. Text columns wrap. When even
that does not fit, columns with a ``drop`` priority leave the table (highest first) and a note says
which; what still does not fit is printed wider than the terminal rather than cut.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

__all__ = ["Col", "print_table", "terminal_width"]


@dataclass(frozen=True)
class Col:
    """A column: ``header``; ``exact`` (never wrapped nor cut: ids, numbers) or wrapping text;
    ``drop`` > 0 lets it leave a table too wide for the terminal (highest first); 0 keeps it."""

    header: str
    justify: str = "left"
    exact: bool = True
    drop: int = 0
    style: str | None = None


def terminal_width(console) -> int:
    """``$COLUMNS`` when set (read at each call, so tests and pipes can ask for a width), else the console's."""
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else console.width


def _build(title, columns, rows, keep) -> Table:
    table = Table(title=title, title_justify="left")
    for i in keep:
        col = columns[i]
        longest = max(cell_len(line) for text in [col.header, *(str(row[i]) for row in rows)]
                      for line in text.splitlines() or [""])
        if col.exact:
            table.add_column(col.header, justify=col.justify, style=col.style, no_wrap=True, min_width=longest)
        else:
            table.add_column(col.header, justify=col.justify, style=col.style, overflow="fold")
    for row in rows:
        table.add_row(*(str(row[i]) for i in keep))
    return table


def print_table(console, title: str | None, columns: list, rows: list, *, hint: str = "--json") -> list:
    """Print ``rows`` (lists of cells, one per column) so that no id or number is cut; return the
    headers of the columns left out (a note names them and ``hint``, where they can be read)."""
    width = terminal_width(console)
    keep = list(range(len(columns)))
    # Measured without a width limit: rich clamps a measurement to the width it is given.
    options = console.options.update(width=100_000)
    table = _build(title, columns, rows, keep)
    while Measurement.get(console, options, table).minimum > width:
        droppable = [i for i in keep if columns[i].drop > 0]
        if not droppable:
            break
        keep.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
        table = _build(title, columns, rows, keep)
    # Columns dropped early may fit again beside what is left: the least droppable first.
    for i in sorted((i for i in range(len(columns)) if i not in keep), key=lambda i: (columns[i].drop, i)):
        trial = _build(title, columns, rows, sorted(keep + [i]))
        if Measurement.get(console, options, trial).minimum <= width:
            keep, table = sorted(keep + [i]), trial
    needed = Measurement.get(console, options, table).minimum
    # A console of the chosen width on the same file: Console.print never renders wider than its console.
    out = Console(file=console.file, width=max(width, needed), color_system=console.color_system,
                  force_terminal=console.is_terminal, no_color=console.no_color)
    out.print(table, crop=False)
    dropped = [columns[i].header for i in range(len(columns)) if i not in keep]
    if dropped:
        out.print(f"(left out at {width} columns: {', '.join(dropped)}; widen the terminal or use {hint})",
                  style="dim", highlight=False)
    return dropped
