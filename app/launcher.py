"""The ``kefu`` entry point: the GUI by default, the headless ``core`` commands otherwise.

This module imports no Qt at import time, so ``kefu draft`` and ``kefu doctor``
stay headless; only the ``app`` and ``bench`` commands load PySide6.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys

from core.cli import Context, build_parser, run


def _add_app_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="open the desktop app (the default command)")
    p.add_argument("--model", metavar="FILE.gguf", help="model to load instead of the default")
    p.add_argument("--self-test", action="store_true",
                   help="open the window, load the model, draft a short reply to a demo ticket, "
                        "close, and print a JSON report (exit 0 when all worked)")
    p.add_argument("--report", metavar="FILE.json",
                   help="with --self-test: also write the report to FILE (a windowed build on "
                        "Windows has no console to print to)")
    p.set_defaults(func=_cmd_app)


def _cmd_app(ctx: Context) -> int:
    from app.main import run_app

    return run_app(ctx)


def _cmd_bench(ctx: Context) -> int:
    from core.bench import run_bench

    stall = None
    if not ctx.args.no_ui:
        from app.stallbench import measure_stall

        stall = measure_stall
    return run_bench(ctx, measure_ui_stall=stall)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(_add_app_commands)
    argv = sys.argv[1:] if argv is None else argv
    # `kefu` alone, or with only global options, opens the app.
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*argv, "app"])
    return run(args, handlers={"bench": _cmd_bench})


def entry() -> None:
    """The console script: run, flush, and leave without interpreter finalization.

    llama-cpp-python's ctypes objects and Qt's wrappers can crash while the garbage
    collector tears them down at exit ("bool_dealloc" seen after ``kefu bench``), after
    all work is done and written.  Everything is flushed and logging closed first, so
    skipping finalization loses nothing and keeps the exit status the command's own.
    """
    multiprocessing.freeze_support()  # the embedding process, in a frozen build
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`kefu kb list | head`): stop quietly, no traceback, and
        # point stdout at nothing so the final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    entry()
