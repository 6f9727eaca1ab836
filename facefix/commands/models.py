"""`facefix models`: list, download, verify, locate and remove checkpoints."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from facefix.commands.options import Command
from facefix.console import console
from facefix.registry import get_checkpoint, list_checkpoints

app = typer.Typer(help="List, download, verify and remove model weights.", no_args_is_help=True)

IdsArg = Annotated[list[str], typer.Argument(help="Checkpoint ids, as shown by `facefix models list`.",
                                             metavar="IDS")]


def _size(num_bytes: int | None) -> str:
    return "?" if num_bytes is None else f"{num_bytes / 2**20:,.1f} MiB"


@app.command("list", cls=Command)
def list_(
    group: Annotated[str | None, typer.Option("--backend", "-b", help="Only this backend or group.")] = None,
) -> None:
    """Show every registered checkpoint: id, backend, size, licence, whether it is cached."""
    from facefix import hub  # loads requests: only for the models commands

    table = Table("id", "backend", "size", "licence", "cached", "default", title=f"checkpoints in {hub.cache_dir()}")
    for checkpoint in list_checkpoints(group):
        cached = hub.checkpoint_path(checkpoint).exists()
        table.add_row(checkpoint.id, checkpoint.group, _size(checkpoint.size), checkpoint.license,
                      "yes" if cached else "-", "yes" if checkpoint.default else "")
    Console(width=max(Console().width, 120)).print(table)


@app.command(cls=Command)
def download(ids: IdsArg) -> None:
    """Download checkpoints into the cache (FACEFIX_MIRROR is tried first)."""
    from facefix import hub  # loads requests: only for the models commands

    for checkpoint_id in ids:
        path = hub.fetch(get_checkpoint(checkpoint_id))
        console.print(f"[green]ok[/] {checkpoint_id}: {path}")


@app.command(cls=Command)
def verify() -> None:
    """Re-hash every cached checkpoint; exit 1 if any is corrupt."""
    from facefix import hub  # loads requests: only for the models commands

    bad = 0
    for checkpoint in list_checkpoints():
        status = hub.verify(checkpoint)
        if status is None:
            continue
        if status:
            console.print(f"[green]ok[/] {checkpoint.id}")
        else:
            bad += 1
            console.print(f"[red]corrupt[/] {checkpoint.id}: {hub.checkpoint_path(checkpoint)} "
                          f"(run `facefix models remove {checkpoint.id} --yes` and download it again)")
    if bad:
        raise typer.Exit(1)


@app.command(cls=Command)
def path(checkpoint_id: Annotated[str, typer.Argument(help="Checkpoint id.")]) -> None:
    """Print where a checkpoint is (or would be) cached."""
    from facefix import hub  # loads requests: only for the models commands

    typer.echo(hub.checkpoint_path(get_checkpoint(checkpoint_id)))


@app.command(cls=Command)
def remove(
    ids: IdsArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete cached checkpoints."""
    from facefix import hub  # loads requests: only for the models commands

    checkpoints = [get_checkpoint(checkpoint_id) for checkpoint_id in ids]
    cached = [c for c in checkpoints if hub.checkpoint_path(c).exists()]
    if not cached:
        console.print("nothing to remove: none of these is cached")
        return
    freed = sum(hub.checkpoint_path(c).stat().st_size for c in cached)
    if not yes and not typer.confirm(f"Delete {len(cached)} file(s), {_size(freed)}?", err=True):
        raise typer.Exit(1)
    for checkpoint in cached:
        hub.remove(checkpoint)
        console.print(f"removed {checkpoint.id}")
    console.print(f"freed {_size(freed)}")
