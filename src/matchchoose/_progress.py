"""One progress bar for every long loop: embedding, fine-tuning, sampling, the grid (and tools beside the
library, through :data:`matchchoose.cli.ProgressBar`).

A bar is drawn on stderr, so it never mixes with what a command prints on stdout (tables, JSON); a
disabled bar, or one with nothing left to do, draws nothing and costs nothing, so callers need no
``if progress`` around their loops.
"""

from __future__ import annotations

__all__ = ["ProgressBar"]


class ProgressBar:
    """A rich progress bar on stderr: ``label``, the bar, done/total, optional fields, time left.

    Parameters
    ----------
    total : int or None
        Steps in all (``None``: unknown, the bar pulses).
    label : str
        Shown first, in bold (taken as plain text, never as rich markup).
    enabled : bool, default=True
        ``False`` draws nothing: every method is then a no-op.
    completed : int, default=0
        Steps already done (a resumed run); with ``completed >= total`` nothing is drawn either.
    fields : dict, optional
        ``name -> first text`` of values shown as ``name value`` after the count (``{"loss": "-"}``),
        changed by :meth:`advance`.
    elapsed : bool, default=False
        Also show the time elapsed.
    transient : bool, default=False
        Remove the bar when done instead of leaving its last state on the terminal.

    Examples
    --------
    >>> with ProgressBar(3, "steps", enabled=False, fields={"loss": "-"}) as bar:
    ...     for step in range(3):
    ...         bar.advance(loss=f"{1 / (step + 1):.4f}")
    >>> bar.shown
    False
    """

    def __init__(self, total, label: str, *, enabled: bool = True, completed: int = 0, fields=None,
                 elapsed: bool = False, transient: bool = False):
        self.total, self.label, self.completed = total, label, completed
        self.fields = dict(fields or {})
        self._bar = None
        if enabled and (total is None or completed < total):
            from rich.console import Console
            from rich.markup import escape
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            columns = [TextColumn(f"[bold]{escape(label)}[/]"), BarColumn(), MofNCompleteColumn()]
            if elapsed:
                columns.append(TimeElapsedColumn())
            columns += [TextColumn(f"{escape(name)} {{task.fields[{name}]}}") for name in self.fields]
            columns += [TimeRemainingColumn(), TextColumn("{task.description}")]
            self._bar = Progress(*columns, console=Console(stderr=True), transient=transient)
            self._task = self._bar.add_task("", total=total, completed=completed, **self.fields)

    @property
    def shown(self) -> bool:
        """Whether the bar is drawn (enabled, with something to do)."""
        return self._bar is not None

    def start(self) -> ProgressBar:
        """Start drawing (entering the ``with`` block does it)."""
        if self._bar is not None:
            self._bar.start()
        return self

    def advance(self, n: int = 1, *, description: str | None = None, **fields) -> None:
        """``n`` more steps done; ``description`` (shown last) and ``fields`` replace theirs when given."""
        if self._bar is not None:
            extra = {"description": description} if description is not None else {}
            self._bar.update(self._task, advance=n, **extra, **{k: str(v) for k, v in fields.items()})

    def update(self, *, completed: int | None = None, total: int | None = None, description: str | None = None,
               **fields) -> None:
        """Set the count of steps done and (once it is known) the ``total``; as :meth:`advance` otherwise."""
        if self._bar is not None:
            given = {"completed": completed, "total": total, "description": description}
            self._bar.update(self._task, **{k: v for k, v in given.items() if v is not None},
                             **{k: str(v) for k, v in fields.items()})

    def close(self) -> None:
        """Stop drawing (leaving the ``with`` block does it); calling it twice is harmless."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
