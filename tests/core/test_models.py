"""The model manager on synthetic GGUF files: discovery, default choice, import."""

from __future__ import annotations

import pytest

from core.errors import ModelError, ModelNotFoundError
from core.modelpack import DEFAULT_PACK
from core.models import default_model_path, discover, import_model
from core.paths import Workspace
from tests.ggufwriter import TENSORS, build_gguf, model_kvs

GOOD = build_gguf(model_kvs(), TENSORS)


@pytest.fixture
def ws(tmp_path, monkeypatch):
    # Only the test's own folders: models/ beside the code may hold a developer's files.
    monkeypatch.setattr("core.paths.bundled_models_dir", lambda: tmp_path / "no-bundled")
    return Workspace.at(tmp_path / "ws")


def test_missing_models_folder_is_a_clear_error(ws):
    assert not ws.models_dir.exists()
    assert discover(ws) == []
    with pytest.raises(ModelNotFoundError, match="kefu models install default"):
        default_model_path(ws)


def test_discover_lists_good_and_bad_files_with_reasons(ws):
    ws.ensure()
    (ws.models_dir / "a-good.gguf").write_bytes(GOOD)
    (ws.models_dir / "b-cut.gguf").write_bytes(GOOD[:-100])
    (ws.models_dir / "c-text.gguf").write_text("hello", encoding="utf-8")
    mine = {e.path.name: e for e in discover(ws)}
    assert mine["a-good.gguf"].usable and mine["a-good.gguf"].info.quantization == "Q4_K_M"
    assert "truncated" in mine["b-cut.gguf"].error
    assert "not a GGUF" in mine["c-text.gguf"].error
    assert mine["a-good.gguf"].to_json()["chat_template"] is True


def test_default_prefers_the_default_pack_then_any_usable(ws):
    ws.ensure()
    (ws.models_dir / "zz-other.gguf").write_bytes(GOOD)
    assert default_model_path(ws).name == "zz-other.gguf"
    (ws.models_dir / DEFAULT_PACK.filename).write_bytes(GOOD)
    assert default_model_path(ws).name == DEFAULT_PACK.filename
    configured = ws.models_dir / "zz-other.gguf"
    assert default_model_path(ws, str(configured)) == configured
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        default_model_path(ws, str(ws.models_dir / "gone.gguf"))


def test_only_broken_files_are_named_in_the_error(ws):
    ws.ensure()
    (ws.models_dir / "broken.gguf").write_bytes(b"GGUF\x03\x00")
    with pytest.raises(ModelNotFoundError, match="broken.gguf"):
        default_model_path(ws)


def test_import_copies_verifies_and_refuses(ws, tmp_path):
    source = tmp_path / "mine.gguf"
    source.write_bytes(GOOD)
    entry = import_model(source, ws)
    assert entry.usable and entry.path == ws.models_dir / "mine.gguf"
    assert entry.path.read_bytes() == GOOD
    with pytest.raises(ModelError, match="already in"):
        import_model(source, ws)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(GOOD[: len(GOOD) // 2])
    with pytest.raises(ModelError, match="Not imported: .*truncated"):
        import_model(bad, ws)
    assert not (ws.models_dir / "bad.gguf").exists()
    assert not list(ws.models_dir.glob(".*partial"))
