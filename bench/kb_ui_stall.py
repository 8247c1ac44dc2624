"""How long the Qt event loop stalls while the knowledge base indexes (and while the
embedding model loads on first use), with the real KB worker thread.

    QT_QPA_PLATFORM=offscreen python bench/kb_ui_stall.py [--in-process]

As the app runs it: ``kb_embedder = auto`` (both models paired) in a child process;
``--in-process`` loads the models on the worker thread instead, for comparison.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from app.kbworker import KbWorker
    from app.stallbench import StallProbe
    from app.worker import OwnerThread
    from core.paths import Workspace
    from core.settings import Settings
    from core.kb.service import open_kb

    app = QApplication([])
    tmp = Path(tempfile.mkdtemp())
    workspace = Workspace.at(tmp / "ws").ensure()
    real_models = Workspace.user_default().models_dir
    (workspace.models_dir / "multilingual-e5-small").symlink_to(
        real_models / "multilingual-e5-small", target_is_directory=True)
    settings = Settings()
    isolated = "--in-process" not in sys.argv
    worker = KbWorker(lambda: open_kb(workspace, settings, isolated=isolated))
    thread = OwnerThread(worker, name="kefu-kb")
    probe = StallProbe()
    loop = QEventLoop()
    result: dict = {}
    worker.summary.connect(lambda s: (result.update(s.to_json()), loop.quit()))
    worker.failed.connect(lambda m: (result.update(error=m), loop.quit()))
    started = time.perf_counter()
    probe.start()
    worker.request_add.emit([str(ROOT / "resources" / "demo" / "kb")])
    loop.exec()
    probe.stop()
    thread.stop()
    print(json.dumps({"embedder_process": "child" if isolated else "worker thread",
                      "seconds": round(time.perf_counter() - started, 1),
                      "chunks": result.get("chunks"), **probe.report(),
                      "error": result.get("error")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
