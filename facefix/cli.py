"""The ``facefix`` command line: composition only.

Each command lives in its own module under :mod:`facefix.commands`; this file attaches them and turns
errors into one line on stderr with a non-zero exit code (``--debug`` shows the traceback).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from facefix import __version__
from facefix.console import console, error
from facefix.errors import FacefixError


# Typer >= 0.26 ships its own copy of click with its own exception classes; older Typer uses click's.
_CLI_EXITS: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, click.exceptions.Exit,
                                               click.exceptions.Abort, click.ClickException)
if hasattr(typer, "exceptions") and hasattr(typer.exceptions, "TyperException"):
    _CLI_EXITS += (typer.exceptions.TyperException,)


class _OneLineErrors(TyperGroup):
    """Runs a command and reports any failure as ``error: FILE: cause``, never as a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _CLI_EXITS:  # help, --version, usage errors: Typer reports these itself
            raise
        except KeyboardInterrupt:
            error("interrupted")
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place where everything becomes a message
            if os.environ.get("FACEFIX_DEBUG"):
                console.print_exception()
            message = str(exc) if isinstance(exc, FacefixError) else f"{type(exc).__name__}: {exc}"
            error(message.splitlines()[0] if message else type(exc).__name__)
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
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    if debug:
        os.environ["FACEFIX_DEBUG"] = "1"
    from facefix.commands.progress import show_backend_notes

    show_backend_notes()


def _attach() -> None:
    from facefix.commands import bench, evaluate, inpaint, models, restore, train

    app.command("restore")(restore.restore)
    app.command("inpaint")(inpaint.inpaint)
    app.add_typer(train.app, name="train")
    app.command("eval")(evaluate.evaluate)
    app.add_typer(models.app, name="models")
    app.command("bench")(bench.bench)


_attach()


def main() -> None:
    sys.exit(app())
