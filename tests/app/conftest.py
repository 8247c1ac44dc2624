from __future__ import annotations

import pytest

from core.paths import Workspace
from core.settings import Settings
from core.tickets import Message, Ticket
from tests.fakes import FakeEngine

TICKETS = [
    Ticket(subject="Lamp broken", id="t-en", lang="en", customer={"name": "Ann"},
           messages=(Message("customer", "My lamp arrived broken. Can I get a new one?"),)),
    Ticket(subject="退货", id="t-zh", customer={"name": "王女士"},
           messages=(Message("customer", "你好，我想退货。"),
                     Message("agent", "好的，请提供订单号。"),
                     Message("customer", "订单号是 LM20261118-0423，谢谢。"))),
]


@pytest.fixture
def make_window(qtbot, tmp_path):
    windows = []

    def make(engine: FakeEngine | None = None, *, tickets=TICKETS, model_path="fake.gguf",
             settings: Settings | None = None, kb_factory=None):
        from app.mainwindow import MainWindow

        engine = engine or FakeEngine()
        window = MainWindow(workspace=Workspace.at(tmp_path / "ws").ensure(),
                            settings=settings or Settings(), tickets=list(tickets),
                            engine_factory=lambda: engine, model_path=model_path,
                            kb_factory=kb_factory)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        if model_path:
            with qtbot.waitSignal(window.model_loaded, timeout=10000):
                window.start_loading()
        return window, engine

    yield make
    for window in windows:
        window.close()
