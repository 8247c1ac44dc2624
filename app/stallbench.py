"""The Qt half of ``kefu bench``: how long the event loop stalls while a draft streams."""

from __future__ import annotations

import time

from core.engine import LlamaEngine

TICK_MS = 5


class StallProbe:
    """A 5 ms timer on the GUI thread; the gaps between its ticks, less 5 ms, are how long
    the event loop could not run."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self._last = 0.0
        self._timer = QTimer(interval=TICK_MS)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000)
        self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def report(self) -> dict:
        stalls = sorted(max(0.0, g - TICK_MS) for g in self.gaps) or [0.0]
        p99 = stalls[max(0, int(len(stalls) * 0.99) - 1)]
        return {"ticks": len(self.gaps), "max_stall_ms": round(stalls[-1], 1),
                "p99_stall_ms": round(p99, 1)}


def measure_stall(*, model, settings, ticket, max_tokens, workspace) -> dict:
    from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop
    from PySide6.QtWidgets import QApplication

    from app.mainwindow import MainWindow

    qapp = QApplication.instance() or QApplication([])
    window = MainWindow(workspace=workspace, settings=settings.replace(max_tokens=max_tokens),
                        tickets=[ticket], engine_factory=LlamaEngine, model_path=str(model))
    window.show()
    loop = QEventLoop()
    window.model_loaded.connect(loop.quit)
    window.model_load_failed.connect(loop.quit)
    window.start_loading()
    loop.exec()

    probe = StallProbe()
    window.draft_finished.connect(loop.quit)
    window.draft_failed.connect(loop.quit)
    probe.start()
    window.start_draft()
    loop.exec()
    probe.stop()
    window.close()
    # Delete the window (and its worker) now, while the application still exists,
    # rather than leaving it to garbage collection at interpreter exit.
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return probe.report()
