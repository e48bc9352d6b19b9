"""The ``%%asubp`` and ``%asubp`` magics, and how a cell gets to await a process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import keyword
import os
import re
import shlex
from typing import Any, cast

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from IPython.utils.text import DollarFormatter
from traitlets import Int

from ._errors import ProcessFailedError, StartError, StdinClosedError
from ._process import Process, mark_cell_task, processes, run_in_background
from ._terminal import run_in_foreground
from ._view import TRANSCRIPT_DELAY, Limits, View, view_of

# A cell or line that starts with the magic at the top level. It becomes an
# await of `run_magic`, so the kernel runs the cell as a coroutine on its own loop:
# starting the process, and `--wait`, need no blocking and no nested loop.
_CELL_MAGIC = re.compile(r"%%asubp(?=\s|$)(?P<line>.*)")
_LINE_MAGIC = re.compile(r"%asubp(?=\s|$)(?P<line>.*)")
_RUN_MAGIC = (
    "await __import__('jupyter_asubp._magic', fromlist=['_']).run_magic({!r}, {!r})"
)


@magics_class
class AsubpMagics(Magics):
    """Run processes in the kernel's event loop and show them live.

    ``%config AsubpMagics.max_lines = 500`` sets how many lines views keep.
    """

    max_lines = Int(
        Limits.max_lines, help="Lines of output a view and a transcript keep."
    ).tag(config=True)
    max_chars = Int(
        Limits.max_chars, help="Characters of output a view and a transcript keep."
    ).tag(config=True)

    @magic_arguments()
    @argument("--name", help="bind the process handle to this variable")
    @argument(
        "--wait",
        action="store_true",
        help="wait for the process to end before the cell ends; the kernel's loop "
        "keeps running, so the view stays live and takes input",
    )
    @argument(
        "--no-raise",
        action="store_true",
        help="with --wait, do not raise when the process fails",
    )
    @argument("--cwd", metavar="DIR", help="run in this working directory")
    @argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set an environment variable; repeat for more (quote values with spaces)",
    )
    @argument(
        "--shell", default="/bin/sh", metavar="PATH", help="the shell to run the cell"
    )
    @argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop the process after this many seconds",
    )
    @argument("--encoding", default="utf-8", help="how to decode the output (utf-8)")
    @argument(
        "--merge-stderr",
        action="store_true",
        help="send stderr into stdout, keeping their exact order",
    )
    @argument(
        "--max-lines",
        type=int,
        help="lines of output the view and the transcript keep (2000)",
    )
    @argument(
        "--max-chars",
        type=int,
        help="characters of output the view and the transcript keep (1000000)",
    )
    @argument(
        "--max-bytes",
        type=int,
        help="bytes of each stream the handle keeps; the rest is dropped and its "
        "text says so (default: all, spilling to a temporary file)",
    )
    @argument("--out", metavar="VAR", help="bind stdout's text to VAR when it ends")
    @argument("--err", metavar="VAR", help="bind stderr's text to VAR when it ends")
    @argument("--input", metavar="TEXT", help="send TEXT to stdin, then close it")
    @argument(
        "--list", action="store_true", help="list the processes this kernel started"
    )
    @argument(
        "--kill",
        metavar="NAME|PID|all",
        help="stop processes by name, pid or all (SIGTERM, then SIGKILL)",
    )
    @argument(
        "command",
        nargs=argparse.REMAINDER,
        # argparse %-formats help: "%%" shows as "%".
        help="for %%%%asubp: nothing (the cell is the script); for %%asubp: a "
        "command and its arguments, run without a shell",
    )
    @line_cell_magic
    def asubp(self, line: str, cell: str | None = None) -> None:
        """Run a process in the background of the kernel and show it live.

        As a cell magic the cell is a shell script; as a line magic, the rest of the
        line is one command run directly. The cell returns at once (unless
        ``--wait``) and the kernel stays free: a view shows the command, pid,
        state, elapsed time and output as it arrives, and has a box whose lines
        go to the process's stdin, plus end-of-input, interrupt, terminate, kill
        and stop. When the process ends, the view becomes a plain-text transcript
        that a saved notebook keeps.

        Examples
        --------
        ::

            %%asubp --name job
            echo "Name?"; read n; echo "hi $n"

            %asubp python3 -i -q
            %asubp --list
            %asubp --kill job
        """
        # Reached only when the cell was not rewritten into an await, e.g. a magic
        # call inside other code: start in the background, with no waiting.
        options = self._parse(line, cell)
        if options.wait:
            raise UsageError(
                "--wait needs %%asubp at the start of a cell, or %asubp on a line "
                "of its own"
            )
        if options.list or options.kill:
            run_in_background(self._manage(options))
            return
        process = self._process(options, cell)
        view_of(process).display()
        run_in_background(self._start(process, options))

    async def run(self, line: str, cell: str | None) -> None:
        """Do what the magic says, waiting for the process if asked."""
        options = self._parse(line, cell)
        if options.list or options.kill:
            await self._manage(options)
            return

        process = self._process(options, cell)
        if not self._in_kernel:
            # No kernel keeps the loop running between cells: run in the foreground.
            await run_in_foreground(process, lambda: self._start(process, options))
        else:
            view_of(process).display(transcript_after=options.wait)
            await self._start(process, options)
        if options.wait or not self._in_kernel:
            await process.wait()
            # The cell's output should end with the transcript, which waits for
            # the output to close; a background process of the child may hold it.
            with contextlib.suppress(TimeoutError):
                await process.wait_closed(timeout=TRANSCRIPT_DELAY)
            if process._view is not None:
                process._view.show_transcript_after()
            if process.returncode and not options.no_raise:
                raise ProcessFailedError(
                    f"{process.command!r} {process.state}",
                    process.returncode,
                    process.command,
                    "",
                )

    @property
    def _in_kernel(self) -> bool:
        # Terminal IPython has no kernel, and no front end for a view.
        return getattr(self.shell, "kernel", None) is not None

    def _parse(self, line: str, cell: str | None) -> Any:
        # Split like a POSIX shell: IPython's parse_argstring keeps the quotes, so
        # --env 'A=b c' or %asubp python3 -c 'print(1)' would get them too.
        try:
            argv = shlex.split(line)
        except ValueError as error:
            raise UsageError(f"cannot split the options: {error}") from None
        options = self.asubp.parser.parse_args(argv)
        if options.command[:1] == ["--"]:
            # "%asubp -- -x" runs a command named like an option.
            del options.command[0]
        if cell is not None and options.command:
            raise UsageError(
                f"unexpected arguments {' '.join(options.command)!r}: in %%asubp the "
                "cell holds the command"
            )
        if cell is None and not (options.command or options.list or options.kill):
            raise UsageError("%asubp needs a command, e.g. %asubp python3 -i -q")
        if options.timeout is not None and not options.timeout > 0:
            raise UsageError(
                "--timeout must be a positive number of seconds, "
                f"not {options.timeout:g}"
            )
        if options.max_lines is not None and options.max_lines < 1:
            raise UsageError(f"--max-lines must be at least 1, not {options.max_lines}")
        for option in ("max_chars", "max_bytes"):
            value = getattr(options, option)
            if value is not None and value < 1:
                flag = "--" + option.replace("_", "-")
                raise UsageError(f"{flag} must be at least 1, not {value}")
        for variable in (options.name, options.out, options.err):
            if variable is not None and (
                not variable.isidentifier() or keyword.iskeyword(variable)
            ):
                raise UsageError(f"{variable!r} is not a Python variable name")
        options.environment = {}
        for setting in options.env:
            name, equals, value = setting.partition("=")
            if not equals or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise UsageError(
                    f"--env expects NAME=VALUE, not {setting!r} "
                    "(quote the whole setting if the value has spaces)"
                )
            options.environment[name] = value
        return options

    def _process(self, options: Any, cell: str | None) -> Process:
        command: str | list[str] = cell if cell is not None else options.command
        try:
            process = Process(
                command,
                cwd=os.path.expanduser(options.cwd) if options.cwd else options.cwd,
                env=options.environment,
                shell=options.shell,
                encoding=options.encoding,
                max_bytes=options.max_bytes,
                timeout=options.timeout,
                merge_stderr=options.merge_stderr,
                name=options.name,
            )
        except StartError as error:
            raise UsageError(str(error)) from None
        if self._in_kernel:
            process._view = View(
                process,
                options.max_lines or self.max_lines,
                options.max_chars or self.max_chars,
            )
        if options.name:
            self.shell.user_ns[options.name] = process  # type: ignore[union-attr]
        return process

    async def _start(self, process: Process, options: Any) -> None:
        # If it cannot start, the view shows why and the cell ends with the error.
        await process._start()
        if options.input is not None:
            # A process that ends without reading its input is no error.
            with contextlib.suppress(StdinClosedError):
                await process.send(options.input)
            await process.close_stdin()
        if options.out or options.err:
            user_ns = self.shell.user_ns  # type: ignore[union-attr]

            def bind(_: Any) -> None:
                if options.out:
                    user_ns[options.out] = process.stdout
                if options.err:
                    user_ns[options.err] = process.stderr

            run_in_background(process.wait_closed()).add_done_callback(bind)

    async def _manage(self, options: Any) -> None:
        if options.kill:
            targets = _find(options.kill)
            running = [p for p in targets if p.running]
            await asyncio.gather(*(p.stop() for p in running))
            ended = len(targets) - len(running)
            print(
                f"stopped {len(running)} process(es)"
                + (f"; {ended} had already ended" if ended else "")
            )
        if options.list:
            display({"text/plain": _table(processes())}, raw=True)


def _one_line(command: str, width: int) -> str:
    """Put the command on one line, as the view's header does, cut to `width`."""
    line = " \u21b5 ".join(command.splitlines())
    return line if len(line) <= width else line[: width - 3] + "..."


def _find(target: str) -> list[Process]:
    everything = processes()
    if target == "all":
        return [p for p in everything if p.running]
    found = [p for p in everything if p.name == target or str(p.pid) == target]
    if not found:
        raise UsageError(
            f"no process named or with pid {target!r}; %asubp --list shows them"
        )
    return found


def _table(rows: list[Process]) -> str:
    if not rows:
        return "no processes started yet"
    header = ("name", "pid", "state", "elapsed", "command")
    cells = [
        (
            p.name or "",
            str(p.pid or ""),
            p.state,
            f"{p.elapsed:.1f} s",
            _one_line(p.command, 50),
        )
        for p in rows
    ]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(5)]
    return "\n".join(
        "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in [header, *cells]
    )


_magics: AsubpMagics | None = None


async def run_magic(line: str, cell: str | None) -> None:
    """Run a magic the input transformer rewrote into an await."""
    assert _magics is not None, "the jupyter_asubp extension is not loaded"
    # As IPython does for the magics it calls itself: $name and {expression}.
    await _magics.run(_expand(line, _magics.shell), cell)


def _expand(line: str, shell: InteractiveShell | None) -> str:
    # IPython's formatter takes time growing with the square of the line.
    if shell is None or ("$" not in line and "{" not in line):
        return line
    try:
        return DollarFormatter().vformat(line, args=(), kwargs=shell.user_ns)
    except Exception:
        # Like IPython: a line that does not expand is used as written.
        return line


def await_magics(lines: list[str]) -> list[str]:
    """Rewrite top-level ``%%asubp`` cells and ``%asubp`` lines into awaits.

    Help requests (``%%asubp?``) and magics inside other code are left alone.
    """
    if not lines:
        return lines
    cell = _CELL_MAGIC.fullmatch(lines[0].rstrip("\n"))
    if cell:
        if cell.group("line").rstrip().endswith("?"):
            return lines
        body = "".join(lines[1:])
        return [_RUN_MAGIC.format(cell.group("line"), body) + "\n"]

    rewritten = []
    for text in lines:
        line = _LINE_MAGIC.fullmatch(text.rstrip("\n"))
        if line and not line.group("line").rstrip().endswith("?"):
            text = _RUN_MAGIC.format(line.group("line"), None) + "\n"
        rewritten.append(text)
    return rewritten


# Whether a cell is complete is judged on the magic as written: a %%asubp cell
# ends at a blank line, as any cell magic does.
await_magics.has_side_effects = True  # type: ignore[attr-defined]


def _mark_cell(*_: Any) -> None:
    try:
        mark_cell_task(asyncio.current_task())
    except RuntimeError:
        mark_cell_task(None)


def load(shell: InteractiveShell) -> None:
    """Register the magics, the transformer and the cell hook with `shell`."""
    global _magics
    if _magics is not None:
        unload(shell)
    _magics = AsubpMagics(shell)
    shell.register_magics(_magics)
    cast(list[Any], shell.configurables).append(_magics)
    shell.input_transformers_cleanup.append(await_magics)
    shell.events.register("pre_run_cell", _mark_cell)


def unload(shell: InteractiveShell) -> None:
    """Undo `load`; processes already started go on."""
    global _magics
    if await_magics in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(await_magics)
    if _mark_cell in shell.events.callbacks["pre_run_cell"]:
        shell.events.unregister("pre_run_cell", _mark_cell)
    configurables = cast(list[Any], shell.configurables)
    if _magics is not None and _magics in configurables:
        configurables.remove(_magics)
    _magics = None
