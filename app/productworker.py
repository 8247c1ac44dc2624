"""The catalog worker: one object on its own thread that owns the catalog store and the
recommender (and, through it, the product embedding model, started on first use).

Reached only through queued signals.  Imports report a summary; after a product import
the new products are embedded a batch at a time, with progress, and a ``StopFlag`` any
thread may set ends that between batches.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal, Slot

from core.catalog.policy import Mood
from core.catalog.recommend import Recommender
from core.engine import StopFlag
from core.errors import KefuError
from core.tickets import Ticket

log = logging.getLogger("kefu.app.products")


class ProductWorker(QObject):
    # inputs
    request_recommend = Signal(int, object, object, int)   # request id, Ticket, Mood, k
    request_import = Signal(str, str)                       # "products" | "orders", path
    request_embed = Signal()

    # outputs
    recommended = Signal(int, object)        # request id, RecommendResult
    imported = Signal(str, object)           # kind, ImportSummary
    embed_progress = Signal(int, int)        # done, total
    failed = Signal(str)

    def __init__(self, recommender_factory: Callable[[], Recommender], *,
                 currency: str = "") -> None:
        super().__init__()
        self.currency = currency.upper()    # of prices written without one
        self._factory = recommender_factory
        self._recommender: Recommender | None = None
        self.stop_flag = StopFlag()
        self.request_recommend.connect(self._recommend)
        self.request_import.connect(self._import)
        self.request_embed.connect(self._embed)

    @property
    def recommender(self) -> Recommender:
        if self._recommender is None:
            self._recommender = self._factory()
        return self._recommender

    def _report(self, exc: Exception) -> None:
        if isinstance(exc, KefuError):
            self.failed.emit(str(exc))
        else:
            log.exception("Catalog worker error")
            self.failed.emit(f"Unexpected error in the product catalog: {exc!r}")

    @Slot(int, object, object, int)
    def _recommend(self, request_id: int, ticket: Ticket, mood: Mood, k: int) -> None:
        try:
            result = self.recommender.recommend(ticket, mood=mood, k=k)
        except Exception as exc:  # noqa: BLE001 - reported, never swallowed
            self._report(exc)
            return
        self.recommended.emit(request_id, result)

    @Slot(str, str)
    def _import(self, kind: str, path: str) -> None:
        store = None
        try:
            store = self.recommender.store
            if kind == "products":
                summary = store.import_products(Path(path), currency=self.currency)
            else:
                summary = store.import_orders(Path(path), currency=self.currency)
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            return
        self.imported.emit(kind, summary)
        if kind == "products":
            self._embed()

    @Slot()
    def _embed(self) -> None:
        self.stop_flag.clear()
        try:
            for step in self.recommender.embed_catalog(stop=self.stop_flag):
                self.embed_progress.emit(step.done, step.total)
        except Exception as exc:  # noqa: BLE001
            self._report(exc)

    def shutdown(self) -> None:
        if self._recommender is not None:
            self._recommender.close()
