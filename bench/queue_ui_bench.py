"""The queue as the agent feels it at 50,000 tickets: the real window (offscreen), its
lazy model over the real ticket store, every step timed through to the repaint.

    python bench/queue_ui_bench.py [--tickets 50000] [--store PATH]

``--store`` keeps the filled store at PATH and reuses it on the next run (filling
50,000 tickets takes about 75 s).  Measured:

- opening the window on the store (the ids in queue order, the first screenful painted);
- scrolling: jump to a random place in the queue and repaint the view;
- filters (status, language, channel, order) and search: from the change to the
  repainted view, through the queue's SQL;
- opening a ticket: selecting a row until its thread and saved draft are shown.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from inbox_bench import fill_store  # noqa: E402

from core.inbox.store import TicketStore  # noqa: E402


def _stats(times: list[float]) -> dict:
    times = sorted(times)
    return {"p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
            "max_ms": round(times[-1], 1), "n": len(times)}


def _timed(fn, app) -> float:
    t0 = time.perf_counter()
    fn()
    app.processEvents()
    return (time.perf_counter() - t0) * 1000


def run(db: Path) -> dict:
    from PySide6.QtWidgets import QApplication

    from app.mainwindow import MainWindow
    from core.inbox.queue import StoreQueue
    from core.paths import Workspace
    from core.settings import Settings

    app = QApplication.instance() or QApplication([])
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace.at(Path(tmp) / "ws").ensure()
        t0 = time.perf_counter()
        window = MainWindow(workspace=workspace, settings=Settings(),
                            tickets=StoreQueue(db), engine_factory=lambda: None,
                            model_path=None)
        window.resize(1280, 800)
        window.show()
        view = window.queue_view
        view.viewport().repaint()
        app.processEvents()
        opened_ms = (time.perf_counter() - t0) * 1000
        model = window.queue_model
        everything = window.status_filter.findText("All statuses")
        window.status_filter.setCurrentIndex(everything)
        rows = model.rowCount()

        bar = view.verticalScrollBar()

        def jump():
            bar.setValue(rng.randint(0, bar.maximum()))
            view.viewport().repaint()

        scroll = [_timed(jump, app) for _ in range(100)]

        def step():                      # the agent holding the arrow key down
            window.next_ticket()
            view.viewport().repaint()

        view.selectRow(rows // 2)
        arrow = [_timed(step, app) for _ in range(100)]

        filters = {}

        def choose(box, data):
            def change():
                box.setCurrentIndex(box.findData(data))
                view.viewport().repaint()
            return change

        cases = {
            "status To answer": (window.status_filter, ("new", "open")),
            "status All": (window.status_filter, ()),
            "language 中文": (window.lang_filter, "zh"),
            "language all": (window.lang_filter, ""),
            "channel email": (window.channel_filter, "email"),
            "channel all": (window.channel_filter, ""),
            "order newest": (window.order_box, "updated"),
            "order waiting": (window.order_box, "waiting"),
        }
        for _ in range(5):
            for name, (box, data) in cases.items():
                filters.setdefault(name, []).append(_timed(choose(box, data), app))

        def search(text):
            def run_search():
                window.filter_edit.setText(text)
                window.apply_filter()       # what the pause after typing triggers
                view.viewport().repaint()
            return run_search

        searches = {}
        for _ in range(5):
            for text in ("kettle", "收货地址", "退款", ""):
                searches.setdefault(text or "(cleared)", []).append(
                    _timed(search(text), app))

        def open_row():
            view.selectRow(rng.randint(0, model.rowCount() - 1))

        open_ticket = [_timed(open_row, app) for _ in range(100)]
        out = {
            "tickets": rows,
            "window_open_first_paint_ms": round(opened_ms, 1),
            "scroll_jump_and_repaint": _stats(scroll),
            "arrow_key_next_ticket": _stats(arrow),
            "filters": {k: _stats(v) for k, v in filters.items()},
            "search": {k: _stats(v) for k, v in searches.items()},
            "open_ticket": _stats(open_ticket),
            "row_blocks_fetched": model.fetches,
        }
        window.close()
        return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=50000)
    parser.add_argument("--store", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.store or Path(tmp) / "tickets.sqlite"
        store = TicketStore(db)
        if store.count_tickets() != args.tickets:
            if store.count_tickets():
                sys.exit(f"{db} holds another number of tickets; use another --store path.")
            t0 = time.perf_counter()
            fill_store(store, args.tickets, random.Random(5))
            print(f"filled {args.tickets} tickets in {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr)
        store.close()
        result = run(db)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    sys.stdout.flush()
    os._exit(0)     # Qt finalization after the window is gone is not measured


if __name__ == "__main__":
    main()
