"""The ``tanas`` application: its commands, and the entry point that turns every error into one line.

Every :class:`tanas.errors.TanasError`, every ``OSError`` that escaped the code that should
have mapped it (permissions, a full disk, a file where a folder should be) and every bad
command line becomes one ``error:`` line on stderr and exit status 2; this is the only place
that handles them. ``tanas --debug`` or ``TANAS_DEBUG=1`` prints the full traceback instead
(for bug reports).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import traceback
from typing import Annotated, Any

import typer

from tanas.cli import demo, distance, search, tasks, zoo
from tanas.errors import TanasError, file_error

app = typer.Typer(
    name="tanas",
    help="Fisher Task Distance and task-aware neural architecture search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show the full traceback of an error instead of one line (for bug reports); or TANAS_DEBUG=1.",
        ),
    ] = False,
) -> None:
    """Fisher Task Distance and task-aware neural architecture search."""
    # main() reads --debug (and TANAS_DEBUG, which any text may hold) itself: the error escapes this context


app.add_typer(tasks.app, name="tasks")
app.add_typer(zoo.app, name="zoo")
app.command("distance")(distance.distance_cmd)
app.command("search")(search.search_cmd)
app.command("demo")(demo.demo_cmd)
app.command("report")(demo.report_cmd)


def _parser_error_types() -> tuple[Any, Any]:
    """The argument parser's (ClickException, UsageError) classes.

    Found through typer's public ``BadParameter``: recent typer vendors click
    privately, older typer uses click itself (hence ``Any``: neither can be named here).
    """
    mro = {c.__name__: c for c in typer.BadParameter.__mro__}
    return mro["ClickException"], mro["UsageError"]


def _debug_wanted(argv: list[str]) -> bool:
    """Whether ``--debug`` comes before the command name, or TANAS_DEBUG is set to a true value."""
    if os.environ.get("TANAS_DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    for arg in argv:
        if not arg.startswith("-"):
            return False  # the command name: later options are the command's own
        if arg == "--debug":
            return True
    return False


def _fail(message: str, debug: bool) -> None:
    """Print the traceback (``debug``) or the one ``error:`` line, and exit with status 2."""
    if debug:
        traceback.print_exc()
    else:
        typer.echo(f"error: {message}", err=True)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every error becomes one ``error:`` line on stderr.

    tanas errors and bad command lines (unknown option, value out of range,
    missing argument) exit with status 2; an interrupt exits with 130.
    """
    click_error, usage_error = _parser_error_types()
    debug = _debug_wanted(sys.argv[1:] if argv is None else argv)
    try:
        # standalone_mode=False: parser errors reach us instead of being drawn as a box
        code = app(args=argv, prog_name="tanas", standalone_mode=False)
    except TanasError as exc:
        _fail(str(exc), debug)
    except OSError as exc:  # the last resort: whatever the code did not map where it arose
        _fail(str(file_error(exc)), debug)
    except sqlite3.Error as exc:  # likewise for the zoo's catalogue (a read-only folder, a full disk)
        reason = " ".join(str(exc).split())
        _fail(
            f"the zoo catalogue failed ({reason}): check that the zoo folder is writable and the disk not full, "
            "then rerun (`tanas zoo check` verifies the zoo)",
            debug,
        )
    except KeyboardInterrupt:
        code = 130
    except click_error as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `tanas` or `tanas zoo`: the help
            exc.show()
            sys.exit(exc.exit_code)
        message = " ".join(exc.format_message().split())
        ctx = getattr(exc, "ctx", None)
        if isinstance(exc, usage_error) and ctx is not None:
            message += f" (see '{ctx.command_path} --help')"
        typer.echo(f"error: {message}", err=True)
        sys.exit(exc.exit_code)
    # with standalone_mode=False, --help and typer.Exit come back as an exit status
    if code == 130:  # typer turns Ctrl-C inside a command into exit status 130
        typer.echo("interrupted; finished work is kept", err=True)
    if isinstance(code, int) and code:
        sys.exit(code)
