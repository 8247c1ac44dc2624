"""End-to-end GUI: the real window drafts with the real small model."""

from __future__ import annotations

import pytest

from core.engine import LlamaEngine
from core.paths import Workspace
from core.settings import Settings
from core.tickets import load_demo_tickets

pytestmark = pytest.mark.model


def test_real_model_streams_into_the_composer(qtbot, tmp_path, small_model):
    from app.mainwindow import MainWindow

    settings = Settings().replace(max_tokens=48, seed=3)
    window = MainWindow(workspace=Workspace.at(tmp_path / "ws").ensure(), settings=settings,
                        tickets=load_demo_tickets(), engine_factory=LlamaEngine,
                        model_path=str(small_model))
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.model_loaded, timeout=120000):
        window.start_loading()
    assert "qwen" in window.model_label.text().lower()
    assert window.device_label.text().startswith("Device: CPU")
    from core.hardware import llama_build

    if not llama_build().gpu_offload:  # the CPU build used here says why it is on the CPU
        assert "no GPU backend" in window.device_label.text()
        assert "no GPU backend" in window.device_label.toolTip()
    chunks = []
    window.worker.tokens.connect(lambda _id, text, _n: chunks.append(text))
    with qtbot.waitSignal(window.draft_finished, timeout=300000) as done:
        window.draft_button.click()
    result = done.args[0]
    assert result.text and window.composer.toPlainText().strip() == result.text
    assert len(chunks) >= 2
    with qtbot.waitSignal(window.draft_finished, timeout=300000) as again:
        window.regen_button.click()
    assert again.args[0].reused_tokens == again.args[0].prompt_tokens - 1
    window.close()
