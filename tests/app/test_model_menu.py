"""Picking and importing models from the window."""

from __future__ import annotations

import json

from tests.fakes import FakeEngine
from tests.ggufwriter import TENSORS, build_gguf, model_kvs


def test_import_a_gguf_then_draft_with_it(make_window, qtbot, tmp_path):
    window, engine = make_window(FakeEngine(), model_path=None)
    source = tmp_path / "tiny-test.gguf"
    source.write_bytes(build_gguf(model_kvs(), TENSORS))
    with qtbot.waitSignal(window.model_loaded, timeout=10000) as loaded:
        window.import_model_file(str(source))
    imported = tmp_path / "ws" / "data" / "models" / "tiny-test.gguf"
    assert imported.read_bytes() == source.read_bytes()
    assert loaded.args[0].model_path == str(imported)
    assert window.draft_button.isEnabled()
    saved = json.loads((tmp_path / "ws" / "config" / "settings.json").read_text("utf-8"))
    assert saved["values"]["model_path"] == str(imported)
    window._fill_model_menu()
    labels = [a.text() for a in window.use_model_menu.actions()]
    assert "tiny-test.gguf" in labels


def test_a_bad_file_is_refused_with_its_reason(make_window, qtbot, tmp_path):
    window, _ = make_window(FakeEngine(), model_path=None)
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello", encoding="utf-8")
    with qtbot.waitSignal(window.model_import_failed, timeout=10000) as failed:
        window.import_model_file(str(bad))
    assert "not a GGUF file" in failed.args[0]
    assert "not imported" in window.note_label.text()
    assert not (tmp_path / "ws" / "data" / "models" / "notes.gguf").exists()


def test_settings_dialog_validates_and_saves(make_window, qtbot, tmp_path):
    from app.settingsdialog import SettingsDialog

    window, _ = make_window(FakeEngine())
    dialog = SettingsDialog(window.settings, window)
    qtbot.addWidget(dialog)
    assert dialog.editor("n_ctx").toolTip().startswith("Context window")
    assert dialog.editor("n_ctx").minimum() == 512
    dialog.editor("n_gpu_layers").setText("many")
    dialog._accept()
    assert "n_gpu_layers" in dialog.error_label.text() and dialog.result_settings is None
    dialog.editor("n_gpu_layers").setText("0")
    dialog.editor("store_name").setText("小店")
    dialog.editor("n_ctx").setValue(2048)
    assert dialog.editor("kb_translate").isChecked()       # switches are check boxes
    dialog.editor("kb_translate").setChecked(False)
    dialog._accept()
    assert dialog.result_settings.store_name == "小店" and dialog.needs_reload()
    assert dialog.result_settings.kb_translate is False
    with qtbot.waitSignal(window.model_loaded, timeout=10000) as loaded:
        window.save_settings(dialog.result_settings, reload=dialog.needs_reload())
    assert loaded.args[0].n_ctx == 2048
    saved = json.loads((tmp_path / "ws" / "config" / "settings.json").read_text("utf-8"))
    assert saved["values"]["store_name"] == "小店"
    assert saved["values"]["kb_translate"] is False


def test_first_run_asks_for_a_model_then_drafts_with_it(make_window, qtbot, tmp_path,
                                                        monkeypatch):
    from app.firstrun import FirstRunDialog

    window, _ = make_window(FakeEngine(), model_path=None)
    assert not window.draft_button.isEnabled()
    source = tmp_path / "picked.gguf"
    source.write_bytes(build_gguf(model_kvs(), TENSORS))
    monkeypatch.setattr(FirstRunDialog, "ask_for_file", lambda self: str(source))
    dialog = window.offer_first_run()
    assert dialog.isVisible()
    assert str(tmp_path / "ws" / "data" / "models") in dialog.findChild(
        type(dialog.layout().itemAt(0).widget())).text()
    with qtbot.waitSignal(window.model_loaded, timeout=10000) as loaded:
        dialog.choose_button.click()
    assert not dialog.isVisible()
    assert loaded.args[0].model_path == str(tmp_path / "ws" / "data" / "models" / "picked.gguf")
    assert window.draft_button.isEnabled()


def test_first_run_later_leaves_the_window_usable(make_window, qtbot, monkeypatch):
    from app.firstrun import FirstRunDialog

    window, _ = make_window(FakeEngine(), model_path=None)
    monkeypatch.setattr(FirstRunDialog, "ask_for_file",
                        lambda self: (_ for _ in ()).throw(AssertionError("not asked")))
    dialog = window.offer_first_run()
    dialog.later_button.click()
    assert not dialog.isVisible() and window.isVisible()
    assert not window.draft_button.isEnabled()
