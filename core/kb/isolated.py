"""The embedding model served by a child process.

Importing torch and loading the models holds the interpreter lock for most of a second
(docs/benchmarks.md), and encoding holds it in bursts; in the app that froze the window.
``ProcessEmbedder`` keeps all of that in a child process and talks to it over a pipe: the
parent only sends texts and receives vectors.  The child is started with ``spawn`` (the
same on Windows, macOS and Linux, and safe beside Qt's and llama.cpp's threads), loads
the model named by the setting, and answers one request at a time.  If it dies, every
call raises ``EmbedderError`` with its exit code; the next knowledge-base action starts
a new one.
"""

from __future__ import annotations

import logging
import multiprocessing
from pathlib import Path
from typing import Sequence

import numpy as np

from core.childproc import stop_child
from core.errors import EmbedderError

log = logging.getLogger("kefu.kb.isolated")

LOAD_TIMEOUT_S = 300.0    # a cold start imports torch and reads a few hundred MB
CALL_TIMEOUT_S = 600.0    # one batch of passages, on a busy machine


def _serve(conn, setting: str, models_dir: str, threads: int) -> None:
    """The child's main loop: load, report, then answer requests until told to stop."""
    try:
        from core.kb.embedder import load_embedder

        embedder = load_embedder(setting, Path(models_dir), threads=threads)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        conn.send(("error", f"{type(exc).__name__}: {exc}"
                   if not isinstance(exc, EmbedderError) else str(exc)))
        conn.close()
        return
    conn.send(("ready", embedder.name, embedder.dimension,
               getattr(embedder, "split_at", None), getattr(embedder, "load_seconds", 0.0)))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the parent has gone
        op, payload = request
        if op == "stop":
            conn.close()
            return
        try:
            if op == "passages":
                result = embedder.embed_passages(payload)
            elif op == "query":
                result = embedder.embed_query(payload)
            else:
                raise ValueError(f"unknown request {op!r}")
            conn.send(("ok", np.asarray(result, dtype=np.float32)))
        except Exception as exc:  # noqa: BLE001 - the parent raises it
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ProcessEmbedder:
    """An ``Embedder`` whose model runs in a child process (see the module docstring)."""

    def __init__(self, setting: str, models_dir: Path, *, threads: int = 1) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, setting, str(models_dir), threads),
                                 name="kefu-embedder", daemon=True)
        self._proc.start()
        child.close()
        reply = self._receive(LOAD_TIMEOUT_S, loading=True)
        _, self.name, self.dimension, self.split_at, self.load_seconds = reply
        log.info("Embedder %s running in process %s", self.name, self._proc.pid)

    def _receive(self, timeout: float, *, loading: bool = False):
        try:
            ready = self._conn.poll(timeout)
            reply = self._conn.recv() if ready else None
        except (EOFError, OSError):
            reply = None
        if reply is None:
            self._proc.join(timeout=1)
            self.close()
            if self._proc.exitcode is None:
                raise EmbedderError(f"The embedding process did not answer within "
                                    f"{timeout:.0f} s and was stopped.")
            raise EmbedderError(f"The embedding process stopped unexpectedly (exit code "
                                f"{self._proc.exitcode})"
                                + (" while loading the model." if loading else "."))
        if reply[0] == "error":
            if loading:
                self.close()
            raise EmbedderError(reply[1])
        return reply

    def _call(self, op: str, payload):
        if not self._proc.is_alive():
            raise EmbedderError(f"The embedding process has stopped (exit code "
                                f"{self._proc.exitcode}).")
        try:
            self._conn.send((op, payload))
        except (OSError, ValueError) as exc:
            raise EmbedderError(f"The embedding process cannot be reached: {exc}") from None
        return self._receive(CALL_TIMEOUT_S)[1]

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._call("passages", list(texts))

    def embed_query(self, text: str) -> np.ndarray:
        return self._call("query", text)

    def close(self) -> None:
        stop_child(self._conn, self._proc)
