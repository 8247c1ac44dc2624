"""The model worker: one long-lived object on its own thread that owns the engine.

The GUI reaches it only through queued signals (``request_load``,
``request_draft``) and the ``stop_flag``, which any thread may set and which the
engine checks between prompt batches and on every token.  The worker never
touches a widget; it reports back through its own signals.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from core.drafting import DraftNotes, DraftResult, draft
from core.engine import Engine, PromptProgress, StopFlag, TokenDelta
from core.errors import KefuError
from core.kb.translate import translate_query
from core.settings import Settings
from core.tickets import Ticket

log = logging.getLogger("kefu.app.worker")

# Tokens are batched for the editor: one signal at most every EMIT_INTERVAL seconds
# keeps the event loop free however fast the model is.
EMIT_INTERVAL = 0.03


class EngineWorker(QObject):
    # inputs (queued to the worker's thread)
    request_load = Signal(str)
    # request id, Ticket, sources (or None), a catalog product the draft may mention (or "")
    request_draft = Signal(int, object, object, str)
    request_translate = Signal(int, str, str)    # request id, text, target language

    # outputs
    load_started = Signal(str)                   # what is happening, in words
    loaded = Signal(object)                      # EngineInfo
    load_failed = Signal(str)
    draft_notes = Signal(int, object)            # request id, DraftNotes
    prompt_progress = Signal(int, int, int)      # request id, done, total
    tokens = Signal(int, str, int)               # request id, text, tokens so far
    draft_finished = Signal(int, object)         # request id, DraftResult
    draft_failed = Signal(int, str)              # request id, message
    translated = Signal(int, str, str)           # request id, text, translation ("": none)

    def __init__(self, engine_factory: Callable[[], Engine], settings: Settings) -> None:
        super().__init__()
        self._engine_factory = engine_factory
        self._engine: Engine | None = None
        self._settings = settings
        self.stop_flag = StopFlag()
        self.request_load.connect(self._load)
        self.request_draft.connect(self._draft)
        self.request_translate.connect(self._translate)

    def set_settings(self, settings: Settings) -> None:
        # Settings are an immutable value, so swapping the reference is safe.
        self._settings = settings

    @Slot(str)
    def _load(self, path: str) -> None:
        try:
            self.load_started.emit("Starting llama.cpp…")
            if self._engine is None:
                self._engine = self._engine_factory()
            self.load_started.emit(f"Loading {Path(path).name}…")
            info = self._engine.load(Path(path), self._settings)
        except KefuError as exc:
            self.load_failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - report, never die silently in a worker
            log.exception("Model load failed")
            self.load_failed.emit(f"Unexpected error while loading the model: {exc!r}\n\n"
                                  f"{traceback.format_exc(limit=5)}")
        else:
            self.loaded.emit(info)

    @Slot(int, object, object, str)
    def _draft(self, request_id: int, ticket: Ticket, sources, product: str) -> None:
        if self._engine is None or self._engine.info is None:
            self.draft_failed.emit(request_id, "No model is loaded yet.")
            return
        self.stop_flag.clear()
        pending: list[str] = []
        count = 0
        last_emit = time.perf_counter()
        try:
            for event in draft(self._engine, ticket, self._settings, stop=self.stop_flag,
                               sources=sources, product=product):
                if isinstance(event, TokenDelta):
                    pending.append(event.text)
                    count += 1
                    now = time.perf_counter()
                    if now - last_emit >= EMIT_INTERVAL:
                        self.tokens.emit(request_id, "".join(pending), count)
                        pending.clear()
                        last_emit = now
                elif isinstance(event, PromptProgress):
                    self.prompt_progress.emit(request_id, event.done, event.total)
                elif isinstance(event, DraftNotes):
                    self.draft_notes.emit(request_id, event)
                elif isinstance(event, DraftResult):
                    if pending:
                        self.tokens.emit(request_id, "".join(pending), count)
                        pending.clear()
                    self.draft_finished.emit(request_id, event)
        except KefuError as exc:
            self._flush(request_id, pending, count)
            self.draft_failed.emit(request_id, str(exc))
        except Exception as exc:  # noqa: BLE001
            log.exception("Draft failed")
            self._flush(request_id, pending, count)
            self.draft_failed.emit(request_id, f"Unexpected error while drafting: {exc!r}")

    @Slot(int, str, str)
    def _translate(self, request_id: int, text: str, target: str) -> None:
        """The search query in the knowledge base's other language; "" when the model
        gives none or fails: the search then goes on without it."""
        result = None
        if self._engine is not None and self._engine.info is not None:
            try:
                result = translate_query(self._engine, text, target, stop=self.stop_flag)
            except Exception:  # noqa: BLE001 - a search aid: never stop the draft over it
                log.exception("Translating the search query failed")
        self.translated.emit(request_id, text, result or "")

    def _flush(self, request_id: int, pending: list[str], count: int) -> None:
        if pending:
            self.tokens.emit(request_id, "".join(pending), count)
            pending.clear()

    def shutdown(self) -> None:
        """Runs on the worker's thread (queued) just before it quits."""
        if self._engine is not None:
            self._engine.unload()


class OwnerThread:
    """Runs a worker (anything with ``stop_flag`` and ``shutdown()``) on its own QThread
    and stops it cleanly: stop flag first, then the event loop, then ``shutdown()``."""

    def __init__(self, worker, *, name: str) -> None:
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName(name)
        worker.moveToThread(self.thread)
        self.thread.start()

    def stop(self, *, timeout_ms: int = 15000) -> bool:
        self.worker.stop_flag.set()
        self.thread.quit()
        finished = self.thread.wait(timeout_ms)
        if finished:
            # Safe now: the thread has ended, nothing else uses the resource.
            self.worker.shutdown()
        else:
            log.warning("Thread %s did not stop within %d ms", self.thread.objectName(),
                        timeout_ms)
        return finished
