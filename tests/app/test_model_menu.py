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
