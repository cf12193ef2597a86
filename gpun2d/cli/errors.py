"""One error policy for every command: usage errors exit 2, failures 1, Ctrl-C 130.

Library errors name Python parameters (``device='cuda'``, ``n_clusters=3``);
here they are reworded as the command's flags (``--device cuda``).
"""

from __future__ import annotations

import re

import click

from ..errors import GPUN2DError

PARAM = re.compile(r"\b([a-z][a-z0-9_]*)=('[^']*'|\"[^\"]*\"|[^\s,;:)]+)")


def as_flags(message: str, ctx: click.Context | None) -> str:
    """``device='cuda'`` -> ``--device cuda`` for every parameter that is an option of ``ctx``'s command."""
    if ctx is None:
        return message
    flags = {}
    for param in ctx.command.params:
        if isinstance(param, click.Option) and param.name:
            flags[param.name] = max(param.opts, key=len)

    def reword(match: re.Match) -> str:
        name, value = match.group(1), match.group(2).strip("'\"")
        flag = flags.get(name)
        if flag is None:
            return match.group(0)
        return flag if value in ("True",) and _is_flag(ctx, name) else f"{flag} {value}"

    return PARAM.sub(reword, message)


def _is_flag(ctx: click.Context, name: str) -> bool:
    return any(p.name == name and getattr(p, "is_flag", False) for p in ctx.command.params)


class Command(click.Command):
    """A click command that prints gpun2d's own errors as one ``Error: ...`` line (exit 1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GPUN2DError as exc:
            raise click.ClickException(as_flags(str(exc), ctx)) from exc


class Group(click.Group):
    """The command group: its commands use :class:`Command`; Ctrl-C exits 130 after one line."""

    command_class = Command

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GPUN2DError as exc:
            raise click.ClickException(as_flags(str(exc), ctx)) from exc
        except (KeyboardInterrupt, click.exceptions.Abort):
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


Group.group_class = Group
