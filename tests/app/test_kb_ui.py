"""The knowledge base in the window: management dialog with progress and Cancel, and the
sources beside the composer."""

from __future__ import annotations

from core.kb.index import KnowledgeBase, SearchParams
from tests.fakes import FakeEngine
from tests.kbfixtures import FakeEmbedder


def kb_factory(tmp_path, embedder, **params):
    return lambda: KnowledgeBase(tmp_path / "kb", embedder_factory=lambda: embedder,
                                 params=SearchParams(min_similarity=0.3, **params))


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


def test_a_chinese_ticket_searches_english_pages_by_its_translation(qtbot, tmp_path,
                                                                    make_window):
    engine = FakeEngine(reply="您好，灯罩可以免费更换 [1]。",
                        translation="I want to return it, order LM20261118-0423.")
    window, _ = make_window(engine, kb_factory=kb_factory(tmp_path, FakeEmbedder(),
                                                          other_language_slots=2))
    folder = tmp_path / "kbdocs"
    folder.mkdir()
    (folder / "returns.md").write_text("# Returns\nTo return an order, quote the order "
                                       "number; we email a label.", encoding="utf-8")
    (folder / "lamps.md").write_text("# Lamps\nShades are replaced free of charge.",
                                     encoding="utf-8")
    (folder / "配送.txt").write_text("配送说明：订单满99元包邮。", encoding="utf-8")
    (folder / "会员.txt").write_text("会员积分说明：每消费1元积1分。", encoding="utf-8")
    with qtbot.waitSignal(window.kb_indexed, timeout=20000):
        window.kb_worker.request_add.emit([str(folder)])
    window.open_ticket("t-zh")    # "你好，我想退货。… 订单号是 LM20261118-0423，谢谢。"

    def translations():
        return [p for p in engine.prompts if p[0].content.startswith("You are a translator.")]

    with qtbot.waitSignal(window.draft_finished, timeout=20000):
        window.draft_button.click()
    assert len(translations()) == 1 and "LM20261118-0423" in translations()[0][-1].content
    shown = [window.sources_list.item(i).text() for i in range(window.sources_list.count())]
    assert any(text.split("] ", 1)[1].startswith("returns.md") for text in shown)
    draft_prompt = engine.prompts[-1]
    assert not draft_prompt[0].content.startswith("You are a translator.")
    assert any("quote the order number" in m.content for m in draft_prompt)
    # Regenerate: the same question is not translated again.
    with qtbot.waitSignal(window.draft_finished, timeout=20000):
        window.regen_button.click()
    assert len(translations()) == 1


def test_no_translation_when_the_setting_is_off(
        qtbot, tmp_path, make_window):
    from core.settings import Settings

    engine = FakeEngine(reply="好的 [1]。", translation="return")
    window, _ = make_window(engine, kb_factory=kb_factory(tmp_path, FakeEmbedder(),
                                                          other_language_slots=2),
                            settings=Settings(kb_translate=False))
    folder = tmp_path / "kbdocs"
    folder.mkdir()
    (folder / "returns.md").write_text("# Returns\nWe email a label.", encoding="utf-8")
    (folder / "more.md").write_text("# Refunds\nRefunds take five days.", encoding="utf-8")
    (folder / "退货.txt").write_text("退货说明：七天无理由退货。", encoding="utf-8")
    (folder / "配送.txt").write_text("配送说明：订单满99元包邮。", encoding="utf-8")
    with qtbot.waitSignal(window.kb_indexed, timeout=20000):
        window.kb_worker.request_add.emit([str(folder)])
    window.open_ticket("t-zh")
    with qtbot.waitSignal(window.draft_finished, timeout=20000):
        window.draft_button.click()
    assert not any(p[0].content.startswith("You are a translator.") for p in engine.prompts)


def test_an_index_built_with_another_model_is_redone_before_the_search(qtbot, tmp_path,
                                                                       make_window):
    from tests.core.test_kb_index import SynonymEmbedder

    folder = tmp_path / "kbdocs"
    folder.mkdir()
    (folder / "lamps.md").write_text("# Lamps\nA cracked lamp shade is replaced free of "
                                     "charge within 30 days.", encoding="utf-8")
    old = kb_factory(tmp_path, FakeEmbedder())()
    old.add_paths([folder])
    list(old.sync())
    old.close()
    # Opened with another embedding model (a setting changed, a package removed...).
    window, engine = make_window(FakeEngine(reply="We can replace the shade [1]."),
                                 kb_factory=kb_factory(tmp_path, SynonymEmbedder()))
    with qtbot.waitSignal(window.kb_indexed, timeout=20000) as redone:
        window.kb_worker.request_warmup.emit()
    assert [p.rsplit("/", 1)[-1] for p in redone.args[0].updated] == ["lamps.md"]
    assert "re-indexing 1 document," in window.note_label.text()
    with qtbot.waitSignal(window.draft_finished, timeout=20000) as done:
        window.draft_button.click()  # ticket t-en: "My lamp arrived broken..."
    assert [c.number for c in done.args[0].citations] == [1]
    assert "cracked lamp shade" in engine.prompts[-1][1].content
