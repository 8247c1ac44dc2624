"""The knowledge base in the window: management dialog with progress and Cancel, and the
sources beside the composer."""

from __future__ import annotations

from core.kb.index import KnowledgeBase, SearchParams
from tests.fakes import FakeEngine
from tests.kbfixtures import FakeEmbedder


def kb_factory(tmp_path, embedder):
    return lambda: KnowledgeBase(tmp_path / "kb", embedder_factory=lambda: embedder,
                                 params=SearchParams(min_similarity=0.3))


def make_folder(tmp_path, n=6):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(n):
        (folder / f"doc{i}.md").write_text("# Lamps\n" + f"Lamp {i} shade replacement policy. "
                                           * 150, encoding="utf-8")
    return folder


def test_dialog_indexes_with_progress_and_cancel_resumes(qtbot, tmp_path, make_window):
    from app.kbdialog import KbDialog

    embedder = FakeEmbedder(delay=0.05)
    window, _ = make_window(FakeEngine(), kb_factory=kb_factory(tmp_path, embedder))
    dialog = KbDialog(window.kb_worker, window)
    qtbot.addWidget(dialog)
    dialog.show()
    folder = make_folder(tmp_path)
    dialog.add_paths([str(folder)])
    assert dialog.progress.isVisible() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.progress.maximum() == 6 and dialog.progress.value() >= 1,
                    timeout=20000)
    with qtbot.waitSignal(dialog.indexing_done, timeout=20000) as cancelled:
        dialog.cancel_button.click()
    assert cancelled.args[0].cancelled
    assert "Cancelled" in dialog.summary_label.text()
    assert not dialog.progress.isVisible() and dialog.update_button.isEnabled()
    with qtbot.waitSignal(dialog.indexing_done, timeout=30000) as finished:
        dialog.update_button.click()
    assert not finished.args[0].cancelled
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 6, timeout=10000)
    statuses = {dialog.table.item(r, 0).text() for r in range(6)}
    assert statuses == {"Indexed"}
    assert dialog.folders.item(0).text() == str(folder)
    dialog.accept()


def test_sources_are_shown_and_cited_ones_marked(qtbot, tmp_path, make_window):
    embedder = FakeEmbedder()
    window, engine = make_window(
        FakeEngine(reply="We can replace the shade [1]."),
        kb_factory=kb_factory(tmp_path, embedder))
    folder = tmp_path / "kbdocs"
    folder.mkdir()
    (folder / "lamps.md").write_text("# Lamps\nA cracked lamp shade is replaced free of "
                                     "charge within 30 days.", encoding="utf-8")
    with qtbot.waitSignal(window.kb_indexed, timeout=20000):
        window.kb_worker.request_add.emit([str(folder)])
    with qtbot.waitSignal(window.draft_finished, timeout=20000) as done:
        window.draft_button.click()  # ticket t-en: "My lamp arrived broken..."
    assert [c.number for c in done.args[0].citations] == [1]
    assert window.sources_box.isVisible()
    item = window.sources_list.item(0)
    assert item.text().startswith("[1] lamps.md") and item.font().bold()
    assert "[1]" in engine.prompts[-1][1].content and "cracked lamp shade" in \
        engine.prompts[-1][1].content
