"""One error policy for every command: usage errors exit 2, failures 1, Ctrl-C 130.

Library errors name Python parameters (``device='cuda'``, ``n_clusters=3``);
here they are reworded as the command's flags (``--device cuda``).
"""

from __future__ import annotations

import logging
import re
import signal

import click

from ..errors import GPUN2DError

ALIASES = {"download=False": "no_download=True", "download=True": "no_download=False"}
"""Library parameters whose CLI option is their negation."""
ALIAS = re.compile(r"\b(?:" + "|".join(map(re.escape, ALIASES)) + r")(?![\w.])")

SNAKE = re.compile(r"(?<![\w./-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w=/.(])")
PARAM = re.compile(r"\b([a-z][a-z0-9_]*)=('[^']*'|\"[^\"]*\"|[^\s,;:)]+)")


def as_flags(message: str, ctx: click.Context | None) -> str:
    """``device='cuda'`` -> ``--device cuda`` for every parameter that is an option of ``ctx``'s command.

    A parameter is matched by the option's Python name or by any of its flags
    (``random_state`` and ``seed`` both give ``--seed``); ``flag=True`` becomes
    ``--flag`` and ``flag=False`` ``no --flag``.
    """
    if ctx is None:
        return message
    flags: dict[str, tuple[str, bool]] = {}
    for param in ctx.command.params:
        if isinstance(param, click.Option) and param.name:
            longest = max(param.opts, key=len)
            for key in (param.name, *(o.lstrip("-").replace("-", "_") for o in param.opts if o.startswith("--"))):
                flags.setdefault(key, (longest, bool(param.is_flag)))

    def reword(match: re.Match) -> str:
        name, value = match.group(1), match.group(2).strip("'\"")
        if name not in flags:
            return match.group(0)
        flag, is_flag = flags[name]
        if is_flag and value in ("True", "False"):
            return flag if value == "True" else f"no {flag}"
        return f"{flag} {value}"

    message = ALIAS.sub(lambda m: ALIASES[m.group(0)], message)
    message = PARAM.sub(reword, message)

    def bare(match: re.Match) -> str:  # snake_case names are never plain words: an option's name
        name = match.group(0)
        return flags[name][0] if name in flags else name

    return SNAKE.sub(bare, message)


class Terminated(BaseException):
    """SIGTERM arrived: unwinds the job like Ctrl-C, so its temporary files are removed."""


def _stop_listening() -> None:
    """Ignore further Ctrl-C and SIGTERM: the job is already unwinding, and its cleanup must finish.

    Tasks the unwinding abandons (a Dask client's pending gather) no longer concern anyone: asyncio's
    "Task exception was never retrieved" reports of them are silenced.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)


def raise_terminated(signum, frame) -> None:
    _stop_listening()
    raise Terminated()


def raise_interrupted(signum, frame) -> None:
    """Ctrl-C: unwind once; a second press would cut the removal of the job's temporary files short."""
    _stop_listening()
    raise KeyboardInterrupt


def reported(exc: GPUN2DError, ctx: click.Context) -> click.ClickException:
    """gpun2d's error as click prints it: one ``Error: ...`` line in the command's flags, exit 1."""
    return click.ClickException(as_flags(str(exc), ctx))


class Command(click.Command):
    """A click command that prints gpun2d's own errors as one ``Error: ...`` line (exit 1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GPUN2DError as exc:
            raise reported(exc, ctx) from exc


class Group(click.Group):
    """The command group: its commands use :class:`Command`; Ctrl-C exits 130 after one line."""

    command_class = Command

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GPUN2DError as exc:
            raise reported(exc, ctx) from exc
        except Terminated:
            click.echo("Terminated.", err=True)
            ctx.exit(143)
        except (KeyboardInterrupt, click.exceptions.Abort):
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


Group.group_class = Group


def run_script(command: click.Command, argv: list[str] | None, name: str) -> int:
    """Run a benchmark script's click ``command`` on ``argv``; returns the exit status.

    Errors print as one ``Error: ...`` line: 2 for misuse, 1 for failures, 130 on Ctrl-C.
    """
    try:
        return command.main(args=argv, prog_name=name, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Interrupted.", err=True)
        return 130
