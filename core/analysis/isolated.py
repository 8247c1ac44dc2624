"""The analyser served by a child process, for the app.

Like the knowledge base's embedder (core/kb/isolated.py, which says why), the models
load and run in a ``spawn``ed child so the window's event loop never waits on the
interpreter lock.  The parent sends texts and receives ``Analysis.to_json()`` dicts.
A child that dies mid-call is reported as ``AnalysisError``; one found dead before a
call is replaced (and logged).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from pathlib import Path

from core.analysis.heads import AnalysisError
from core.childproc import stop_child

log = logging.getLogger("kefu.analysis.isolated")

LOAD_TIMEOUT_S = 300.0
CALL_TIMEOUT_S = 600.0


def _serve(conn, models_dir: str, threads: int) -> None:
    if hasattr(os, "nice"):
        os.nice(10)       # background work: drafting and the window come first
    try:
        from core.analysis.analyzer import Analyzer

        analyzer = Analyzer.load(Path(models_dir), threads=threads)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        conn.close()
        return
    conn.send(("ready",))
    while True:
        try:
            op, payload = conn.recv()
        except (EOFError, OSError):
            return
        if op == "stop":
            conn.close()
            return
        try:
            conn.send(("ok", [a.to_json() for a in analyzer.analyze_many(payload)]))
        except Exception as exc:  # noqa: BLE001 - the parent raises it
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ProcessAnalyzer:
    def __init__(self, models_dir: Path, *, threads: int = 1) -> None:
        self._models_dir = models_dir
        self._threads = threads
        self._proc = None
        self._conn = None

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, str(self._models_dir),
                                                      self._threads),
                                 name="kefu-analyzer", daemon=True)
        self._proc.start()
        child.close()
        self._receive(LOAD_TIMEOUT_S)
        log.info("Analyser running in process %s", self._proc.pid)

    def _receive(self, timeout: float):
        try:
            reply = self._conn.recv() if self._conn.poll(timeout) else None
        except (EOFError, OSError):
            reply = None
        if reply is None:
            # A child that died closes the pipe at once, before it is reaped: wait a moment
            # for its exit code, or a crash reads as a timeout (seen on a loaded machine).
            self._proc.join(timeout=2)
            code = self._proc.exitcode
            self.close()
            raise AnalysisError(f"The analyser process stopped unexpectedly (exit code "
                                f"{code})." if code is not None else
                                f"The analyser did not answer within {timeout:.0f} s.")
        if reply[0] == "error":
            raise AnalysisError(reply[1])
        return reply

    def analyze_many(self, texts: list[str]) -> list[dict]:
        if self._proc is not None and not self._proc.is_alive():
            log.warning("The analyser process had stopped (exit code %s); starting a new one",
                        self._proc.exitcode)
            self.close()
        if self._proc is None:
            self._start()
        try:
            self._conn.send(("analyze", list(texts)))
        except (OSError, ValueError) as exc:
            self.close()
            raise AnalysisError(f"The analyser process cannot be reached: {exc}") from None
        return self._receive(CALL_TIMEOUT_S)[1]

    def close(self) -> None:
        if self._proc is not None:
            stop_child(self._conn, self._proc)
        self._proc = self._conn = None
