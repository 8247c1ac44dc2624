"""The Qt half of ``kefu bench``: how long the event loop stalls while a draft streams."""

from __future__ import annotations

import time

from core.engine import LlamaEngine

TICK_MS = 5


def measure_stall(*, model, settings, ticket, max_tokens, workspace) -> dict:
    from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QTimer
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

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        last[0] = now

    timer = QTimer(interval=TICK_MS)
    timer.timeout.connect(tick)
    window.draft_finished.connect(loop.quit)
    window.draft_failed.connect(loop.quit)
    timer.start()
    last[0] = time.perf_counter()
    window.start_draft()
    loop.exec()
    timer.stop()
    window.close()
    # Delete the window (and its worker) now, while the application still exists,
    # rather than leaving it to garbage collection at interpreter exit.
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    stalls = sorted(max(0.0, g - TICK_MS) for g in gaps) or [0.0]
    return {"ticks": len(gaps), "max_stall_ms": round(stalls[-1], 1),
            "p99_stall_ms": round(stalls[int(len(stalls) * 0.99) - 1 if len(stalls) > 1 else 0], 1)}
