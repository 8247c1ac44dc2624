"""GUI tests: the composer streams, Stop answers within a token, the loop keeps running."""

from __future__ import annotations

import json

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication

from tests.fakes import FakeEngine

LONG_REPLY = "We are sorry to hear that your lamp arrived broken. " * 6


def draft_and_wait(qtbot, window, *, regenerate=False):
    with qtbot.waitSignal(window.draft_finished, timeout=20000) as blocker:
        (window.regen_button if regenerate else window.draft_button).click()
    return blocker.args[0]


def test_draft_streams_into_the_composer(make_window, qtbot):
    window, engine = make_window(FakeEngine(reply="Hello Ann, sorry!", token_delay=0.005))
    assert window.draft_button.isEnabled() and not window.stop_button.isEnabled()
    chunks = []
    window.worker.tokens.connect(lambda _id, text, _n: chunks.append(text))
    result = draft_and_wait(qtbot, window)
    assert window.composer.toPlainText() == "Hello Ann, sorry!" == result.text
    assert len(chunks) >= 2  # it streamed, not arrived whole
    assert "tokens/s" in window.speed_label.text()
    assert window.model_label.text().startswith("Model: fake-model")
    assert window.device_label.text() == "Device: CPU (fake)"
    assert window.regen_button.isEnabled()


def test_stop_ends_the_draft_within_one_token(make_window, qtbot):
    window, engine = make_window(FakeEngine(reply=LONG_REPLY, token_delay=0.01))
    window.draft_button.click()
    qtbot.waitUntil(lambda: len(window.composer.toPlainText()) >= 10, timeout=10000)
    assert window.stop_button.isEnabled()
    at_stop = engine.generated_tokens
    with qtbot.waitSignal(window.draft_finished, timeout=10000) as blocker:
        window.stop_button.click()
    assert engine.generated_tokens - at_stop <= 1
    assert blocker.args[0].stop_reason == "cancelled"
    assert window.composer.toPlainText().strip() == blocker.args[0].text  # partial kept
    assert "Stopped" in window.note_label.text()
    assert window.draft_button.isEnabled()


def test_event_loop_keeps_running_while_streaming(make_window, qtbot):
    window, _ = make_window(FakeEngine(reply=LONG_REPLY[:120], token_delay=0.005))
    ticks = []
    timer = QTimer(interval=5)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    draft_and_wait(qtbot, window)
    timer.stop()
    # 120 tokens at >= 5 ms each take at least 0.6 s: a blocked loop would tick ~once.
    assert len(ticks) >= 20


def test_regenerate_reuses_prompt_and_replace_is_undoable(make_window, qtbot):
    window, engine = make_window(FakeEngine(reply="First draft."))
    draft_and_wait(qtbot, window)
    window.composer.setPlainText("First draft, edited by the agent.")
    evaluated = engine.evaluated_tokens
    result = draft_and_wait(qtbot, window, regenerate=True)
    assert result.reused_tokens == result.prompt_tokens - 1
    assert engine.evaluated_tokens - evaluated == 1  # only the last prompt token is read again
    assert window.composer.toPlainText() == "First draft."
    window.composer.undo()  # the new draft's insertion
    window.composer.undo()  # the replacement
    assert "edited by the agent" in window.composer.toPlainText()


def test_drafts_are_per_ticket_and_saved(make_window, qtbot, tmp_path):
    window, _ = make_window(FakeEngine(reply="Reply for Ann."))
    draft_and_wait(qtbot, window)
    window.queue_view.selectRow(1)
    assert window.current_ticket.id == "t-zh"
    assert window.composer.toPlainText() == ""
    window.composer.setPlainText("您好！")
    window.queue_view.selectRow(0)
    assert window.composer.toPlainText() == "Reply for Ann."
    window.save_drafts()
    saved = json.loads((tmp_path / "ws" / "data" / "drafts.json").read_text(encoding="utf-8"))
    assert saved["drafts"]["t-zh"]["text"] == "您好！"
    assert saved["drafts"]["t-en"]["text"] == "Reply for Ann."


def test_copy_and_mark_as_sent(make_window, qtbot):
    window, _ = make_window(FakeEngine(reply="Copy me."))
    assert not window.sent_button.isEnabled()
    draft_and_wait(qtbot, window)
    window.copy_button.click()
    assert QGuiApplication.clipboard().text() == "Copy me."
    window.sent_button.click()
    # Recorded as sent: the ticket waits on the customer, the reply joins its thread,
    # and the composer is empty for the next one.
    assert window.queue.rows(["t-en"])[0].status == "pending"
    assert window.current_ticket.messages[-1].text == "Copy me."
    assert window.current_ticket.messages[-1].sender == "agent"
    assert "Copy me." in window.thread_view.toPlainText()
    assert window.composer.toPlainText() == ""


def test_closing_while_streaming_keeps_the_partial_draft(make_window, qtbot, tmp_path):
    window, engine = make_window(FakeEngine(reply=LONG_REPLY, token_delay=0.01))
    window.draft_button.click()
    qtbot.waitUntil(lambda: len(window.composer.toPlainText()) >= 5, timeout=10000)
    window.close()
    assert not window._thread.thread.isRunning()
    saved = json.loads((tmp_path / "ws" / "data" / "drafts.json").read_text(encoding="utf-8"))
    assert LONG_REPLY.startswith(saved["drafts"]["t-en"]["text"])
    assert len(saved["drafts"]["t-en"]["text"]) >= 5
    assert engine.generated_tokens < len(LONG_REPLY)


def test_model_that_fails_to_load_leaves_the_app_usable(make_window, qtbot):
    engine = FakeEngine(fail_load="fake.gguf is not a GGUF file")
    window, _ = make_window(engine, model_path=None)
    with qtbot.waitSignal(window.model_load_failed, timeout=10000):
        window._model_path = "fake.gguf"
        window.start_loading()
    assert "could not be loaded" in window.note_label.text()
    assert "not a GGUF file" in window.note_label.text()
    assert not window.draft_button.isEnabled()
    window.composer.setPlainText("I can still write by hand.")
    assert window.copy_button.isEnabled()


def test_queue_search_and_filters(make_window, qtbot):
    window, _ = make_window(FakeEngine())
    window.filter_edit.setText("退货")
    # The search waits for typing to pause, then asks the queue.
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1, timeout=3000)
    assert window.queue_model.ticket_id(0) == "t-zh"
    assert window.count_label.text() == "1 ticket"
    window.filter_edit.setText("")
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 2, timeout=3000)
    window.lang_filter.setCurrentIndex(window.lang_filter.findData("en"))
    assert [window.queue_model.ticket_id(r) for r in range(window.queue_model.rowCount())] \
        == ["t-en"]



def test_device_label_says_why_it_runs_on_the_cpu(make_window):
    reason = "CPU only: this llama.cpp build has no GPU backend (install a CUDA build)"
    window, _ = make_window(FakeEngine(offload_reason=reason))
    assert window.device_label.text() == ("Device: CPU (fake) · no GPU backend in this "
                                          "llama.cpp build")
    assert window.device_label.toolTip() == reason
