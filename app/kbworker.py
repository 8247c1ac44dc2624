"""The knowledge-base worker: one object on its own thread that owns the index.

Like the model worker it is reached only through queued signals; cancellation
goes through a ``StopFlag`` any thread may set.  Loading the embedding model
(torch, sentence-transformers) happens here, on first use, never before the
window is up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal, Slot

from core.engine import StopFlag
from core.errors import KefuError
from core.kb.grounding import retrieval_query, sources_from_hits
from core.kb.index import IndexProgress, IndexSummary, KnowledgeBase
from core.tickets import Ticket

log = logging.getLogger("kefu.app.kb")


class KbWorker(QObject):
    # inputs
    request_sync = Signal(bool)                  # rebuild from scratch?
    request_add = Signal(list)                   # paths (str)
    request_remove = Signal(str)
    # request id, Ticket, k, the query's translation: None to ask for one if the knowledge
    # base holds the other language, "" to search without one, or the translation
    request_search = Signal(int, object, int, object)
    request_documents = Signal()
    request_warmup = Signal()                    # load the embedding model ahead of use

    # outputs
    progress = Signal(int, int, str)             # done, total, current document
    summary = Signal(object)                     # IndexSummary
    documents = Signal(list, list)               # folders, DocumentRecords
    search_done = Signal(int, object)            # request id, list[Source] (or None: no KB)
    translation_wanted = Signal(int, str, str)   # request id, query, target language
    failed = Signal(str)
    reindexing = Signal(int)                     # documents re-indexed before searching

    def __init__(self, kb_factory: Callable[[], KnowledgeBase]) -> None:
        super().__init__()
        self._factory = kb_factory
        self._kb: KnowledgeBase | None = None
        self.stop_flag = StopFlag()
        self.request_sync.connect(self._sync)
        self.request_add.connect(self._add)
        self.request_remove.connect(self._remove)
        self.request_search.connect(self._search)
        self.request_documents.connect(self._documents)
        self.request_warmup.connect(self._warmup)

    @property
    def kb(self) -> KnowledgeBase:
        if self._kb is None:
            self._kb = self._factory()
        return self._kb

    def _report(self, exc: Exception) -> None:
        if isinstance(exc, KefuError):
            self.failed.emit(str(exc))
        else:
            log.exception("Knowledge-base worker error")
            self.failed.emit(f"Unexpected error in the knowledge base: {exc!r}")

    @Slot()
    def _documents(self) -> None:
        try:
            self.documents.emit(self.kb.folders(), self.kb.documents())
        except Exception as exc:  # noqa: BLE001 - reported, never swallowed
            self._report(exc)

    @Slot()
    def _warmup(self) -> None:
        try:
            if self.kb.folders():
                self.kb.embedder  # noqa: B018 - loads the model now, not at the first draft
                self._bring_up_to_date()
        except Exception as exc:  # noqa: BLE001
            self._report(exc)

    def _bring_up_to_date(self) -> None:
        """Re-index first when the index cannot answer: the embedding model changed since
        it was built (a setting, or a model package installed or removed), or a run was
        cut short.  Searching it as it is would silently find nothing."""
        outdated = self.kb.outdated()
        if outdated:
            log.warning("%d knowledge-base documents are out of date: re-indexing", outdated)
            self.reindexing.emit(outdated)
            self._sync(False)

    @Slot(bool)
    def _sync(self, rebuild: bool) -> None:
        self.stop_flag.clear()
        try:
            events = (self.kb.rebuild if rebuild else self.kb.sync)(stop=self.stop_flag)
            for event in events:
                if isinstance(event, IndexProgress):
                    self.progress.emit(event.done, event.total, event.current)
                elif isinstance(event, IndexSummary):
                    self.summary.emit(event)
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
        self._documents()

    @Slot(list)
    def _add(self, paths: list) -> None:
        try:
            self.kb.add_paths([Path(p) for p in paths])
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            return
        self._sync(False)

    @Slot(str)
    def _remove(self, path: str) -> None:
        try:
            self.kb.remove_path(Path(path))
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            return
        self._sync(False)

    @Slot(int, object, int, object)
    def _search(self, request_id: int, ticket: Ticket, k: int, translated) -> None:
        try:
            if k == 0 or not self.kb.folders():
                self.search_done.emit(request_id, None)
                return
            self._bring_up_to_date()
            query = retrieval_query(ticket)
            if translated is None:
                target = self.kb.translation_target(query)
                if target:      # the model translates it first (core/kb/translate.py)
                    self.translation_wanted.emit(request_id, query, target)
                    return
            hits = self.kb.search(query, k=k, translated=translated or None)
            self.search_done.emit(request_id, sources_from_hits(hits))
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            self.search_done.emit(request_id, None)  # draft without it rather than not at all

    def shutdown(self) -> None:
        if self._kb is not None:
            self._kb.close()

