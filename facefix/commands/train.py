"""`facefix train` (being built)."""

import typer

from facefix.errors import FacefixError

app = typer.Typer(help="Not available yet in this build.", no_args_is_help=False)


@app.callback(invoke_without_command=True)
def _placeholder() -> None:
    raise FacefixError("facefix train: not available yet in this build")
