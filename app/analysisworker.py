"""The analysis worker: one object on its own thread that owns the analyser (in the app,
a child process: core/analysis/isolated.py).  The window sends batches of customer
messages through a queued signal and gets ``Analysis.to_json()`` dicts back."""

from __future__ import annotations

import logging
from typing import Callable, Protocol

from PySide6.QtCore import QObject, Signal, Slot

from core.engine import StopFlag
from core.errors import KefuError

log = logging.getLogger("kefu.app.analysis")


class BatchAnalyzer(Protocol):
    def analyze_many(self, texts: list[str]) -> list[dict]: ...

    def close(self) -> None: ...


class AnalysisWorker(QObject):
    request = Signal(list)          # [(message key, text)]
    done = Signal(list)             # [(message key, result dict)]
    failed = Signal(str)

    def __init__(self, factory: Callable[[], BatchAnalyzer]) -> None:
        super().__init__()
        self._factory = factory
        self._analyzer: BatchAnalyzer | None = None
        self.stop_flag = StopFlag()
        self.request.connect(self._analyze)

    @Slot(list)
    def _analyze(self, items: list) -> None:
        if self.stop_flag.is_set():
            return
        try:
            if self._analyzer is None:
                self._analyzer = self._factory()
            results = self._analyzer.analyze_many([text for _key, text in items])
        except (KefuError, OSError) as exc:
            log.error("Analysis failed: %s", exc)
            self.failed.emit(str(exc))
            return
        self.done.emit([(key, result) for (key, _text), result in zip(items, results)])

    def shutdown(self) -> None:
        if self._analyzer is not None:
            self._analyzer.close()
            self._analyzer = None
