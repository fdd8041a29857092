"""The ``mnc`` command: a thin click wrapper over the library.

Library errors (:class:`matchchoose.MatchChooseError`) become one line on stderr and exit code 2;
no traceback reaches the user. Python warnings become one line each (``warning: ...``).

Command lines of tools built on matchchoose (``mnc-microzoo``) reuse the same conventions:
:func:`run` runs any click command that way, :func:`print_table` with :class:`Col` prints tables that
never cut an id or a number, :class:`ProgressBar` is the progress bar (on stderr) of every long loop,
:data:`console` and :data:`console_err` are the terminals.
"""

from __future__ import annotations

import sys

import click

from .._errors import MatchChooseError
from .._progress import ProgressBar
from ._common import console, console_err
from ._table import Col, print_table

__all__ = ["Col", "ProgressBar", "cli", "console", "console_err", "main", "print_table", "run"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="matchchoose", prog_name="mnc")
def cli():
    """matchchoose: which pretrained model should I fine-tune on my data?

    Example: mnc evaluate --kb kb.sqlite --metric accuracy --json out.json
    """


def _register():
    from ._cache import cache
    from ._choose import choose, profile
    from ._evaluate import evaluate
    from ._finetune import finetune
    from ._grid import grid
    from ._kb import kb
    from ._quantize import quantize
    from ._race import race
    from ._sample import sample
    from ._score import score
    from ._version import version
    from ._zoo import zoo

    cli.add_command(kb)
    cli.add_command(cache)
    cli.add_command(evaluate)
    cli.add_command(version)
    cli.add_command(zoo)
    cli.add_command(profile)
    cli.add_command(choose)
    cli.add_command(score)
    cli.add_command(sample)
    cli.add_command(finetune)
    cli.add_command(grid)
    cli.add_command(race)
    cli.add_command(quantize)


_register()


def _warning_printer():
    """``warnings.showwarning`` for one command: each warning as one readable line on stderr
    (``warning: ...``), never the source line that raised it, and the same text only once (a
    baseline warns once per fold)."""
    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        if category is not UserWarning:
            text += f" ({category.__name__})"
        if text not in seen:
            seen.add(text)
            console_err.print(f"[yellow]warning:[/] {text}", highlight=False, soft_wrap=True)

    return show


def main(argv=None):
    """Entry point of ``mnc``; returns the exit code instead of raising on library errors."""
    run(cli, argv, prog_name="mnc")


def run(command: click.Command, argv=None, *, prog_name: str) -> None:
    """Run a click ``command`` as ``mnc`` runs: library errors (and file-system refusals) are one line
    on stderr and exit code 2, warnings one line each, never a traceback.

    Parameters
    ----------
    command : click.Command
        The command or group.
    argv : list of str, optional
        Arguments; default ``sys.argv[1:]``.
    prog_name : str
        The program's name in usage and help texts.

    Examples
    --------
    >>> run(cli, ["version", "--json"], prog_name="mnc")    # doctest: +SKIP
    """
    import warnings

    with warnings.catch_warnings():
        warnings.showwarning = _warning_printer()
        _main(command, argv, prog_name)


def _main(command, argv, prog_name):
    try:
        command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        console_err.print("Aborted.")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except MatchChooseError as exc:
        console_err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except OSError as exc:
        # Any file-system refusal (missing file, no permission, a file where a folder should be,
        # a full disk) is about an input the user named: one line, never a traceback.
        what = f"{exc.strerror}: {exc.filename!r}" if exc.strerror and exc.filename else str(exc)
        console_err.print(f"[bold red]error:[/] {what}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console_err.print("Interrupted.")
        sys.exit(130)
