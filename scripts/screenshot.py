"""Take a screenshot of the real app drafting a demo ticket (for docs and visual checks).

Usage: python scripts/screenshot.py OUT.png [--ticket N] [--model FILE.gguf]
Run under a display (Xvfb: `xvfb-run -a python scripts/screenshot.py out.png`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--ticket", type=int, default=2)
    parser.add_argument("--model")
    parser.add_argument("--max-tokens", type=int, default=160)
    args = parser.parse_args()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.fonts import ensure_cjk_font
    from app.mainwindow import MainWindow
    from core import settings as settings_mod
    from core.engine import LlamaEngine
    from core.models import default_model_path
    from core.paths import Workspace
    from core.tickets import load_demo_tickets

    qapp = QApplication([])
    ensure_cjk_font(qapp)
    workspace = Workspace.resolve().ensure()
    settings = settings_mod.load(workspace.settings_file).replace(max_tokens=args.max_tokens,
                                                                   seed=5)
    model = args.model or str(default_model_path(workspace, settings.model_path))
    from core.analysis.isolated import ProcessAnalyzer
    from core.catalog.service import open_recommender
    from core.kb.service import open_kb

    window = MainWindow(workspace=workspace, settings=settings, tickets=load_demo_tickets(),
                        engine_factory=LlamaEngine, model_path=model,
                        analyzer_factory=lambda: ProcessAnalyzer(workspace.models_dir),
                        kb_factory=lambda: open_kb(workspace, settings, isolated=True),
                        recommender_factory=lambda: open_recommender(workspace, settings,
                                                                     isolated=True))
    window.resize(1600, 900)
    window.show()

    def loaded(_info) -> None:
        window.queue_view.selectRow(args.ticket - 1)
        window.start_draft()

    def finished(_result) -> None:
        # Once the analyser has read the whole queue (moods and highlights shown).
        def grab_when_analysed() -> None:
            if window._analysing or window.queue.unanalysed() \
                    or window.product_result is None:
                QTimer.singleShot(500, grab_when_analysed)
                return
            window.grab().save(args.out)
            window.close()
            qapp.quit()

        QTimer.singleShot(300, grab_when_analysed)

    window.model_loaded.connect(loaded)
    window.draft_finished.connect(finished)
    window.draft_failed.connect(lambda m: (print(m), qapp.quit()))
    window.model_load_failed.connect(lambda m: (print(m), qapp.quit()))
    window.start_loading()
    qapp.exec()
    return 0 if Path(args.out).exists() else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)   # as the app's entry point does: Qt's finalization is not for us
