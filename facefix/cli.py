"""The ``facefix`` command line: composition only.

Each command lives in its own module under :mod:`facefix.commands`; this file attaches them and turns
errors into one line on stderr with a non-zero exit code (``--debug`` shows the traceback). Library
warnings are kept off the terminal unless ``--debug`` is given. Nothing here imports torch: the
commands load it when they run, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Annotated

import click
import typer
from rich.markup import escape
from typer.core import TyperGroup

from facefix import __version__
from facefix.console import console, error, set_quiet


# Typer >= 0.26 ships its own copy of click with its own exception classes; older Typer uses click's.
_CLI_EXITS: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, click.exceptions.Exit,
                                               click.exceptions.Abort, click.ClickException)
if hasattr(typer, "exceptions") and hasattr(typer.exceptions, "TyperException"):
    _CLI_EXITS += (typer.exceptions.TyperException,)


#: options of the whole program, accepted anywhere on the line (`facefix restore x.jpg --debug`)
_GLOBAL_FLAGS = ("--debug", "--quiet", "-q")
#: --debug of the running command (not kept in the environment: it would outlive the command in tests)
_debug = {"on": False}


def _debugging() -> bool:
    return _debug["on"] or bool(os.environ.get("FACEFIX_DEBUG"))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Library warnings (deprecations, user warnings of torch and friends) print only under --debug."""
    if _debugging():
        console.print(f"[dim]debug: {escape(f'{category.__name__}: {message} ({filename}:{lineno})')}[/]",
                      soft_wrap=True)


class _OneLineErrors(TyperGroup):
    """Runs a command and reports any failure as ``error: FILE: cause``, never as a traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Move the global flags in front of the subcommand, wherever they were typed (not after `--`).
        end = args.index("--") if "--" in args else len(args)
        flags = [arg for arg in args[:end] if arg in _GLOBAL_FLAGS]
        rest = [arg for arg in args[:end] if arg not in _GLOBAL_FLAGS] + args[end:]
        return super().parse_args(ctx, flags + rest)

    def invoke(self, ctx: click.Context):
        from facefix.commands.hints import with_hint

        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except _CLI_EXITS:  # help, --version, usage errors: Typer reports these itself
            raise
        except KeyboardInterrupt:
            error("interrupted")
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place where everything becomes a message
            if _debugging():
                console.print_exception()
            error(with_hint(exc))
            ctx.exit(1)


app = typer.Typer(
    cls=_OneLineErrors,
    name="facefix",
    help="Restore old, blurry, noisy and damaged faces in photos and videos.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"facefix {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks and library warnings "
                                        "(anywhere on the line).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors (and what goes to stdout): no "
                                        "progress, status, warnings or summary (anywhere on the line).")] = False,
) -> None:
    _debug["on"] = debug
    set_quiet(quiet and not _debugging())
    from facefix.commands.progress import show_backend_notes

    show_backend_notes()


def _attach() -> None:
    from facefix.commands import bench, evaluate, inpaint, models, restore, train
    from facefix.commands.options import Command

    app.command("restore", cls=Command)(restore.restore)
    app.command("inpaint", cls=Command)(inpaint.inpaint)
    app.add_typer(train.app, name="train")
    app.command("eval", cls=Command)(evaluate.evaluate)
    app.add_typer(models.app, name="models")
    app.command("bench", cls=Command)(bench.bench)


_attach()


def main() -> None:
    sys.exit(app())
