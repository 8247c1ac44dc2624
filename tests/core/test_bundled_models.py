"""Models an installer ships beside the code (core.paths.bundled_models_dir) are found
when the workspace has none of its own, and the workspace's own copy wins."""

from __future__ import annotations

from core.kb import embedder


def _e5(folder):
    model = folder / "multilingual-e5-small"
    model.mkdir(parents=True)
    (model / "modules.json").write_text("[]", encoding="utf-8")
    (folder / "onnx" / "multilingual-e5-small").mkdir(parents=True)
    return model


def test_the_shipped_embedding_model_is_found(tmp_path, monkeypatch):
    shipped = tmp_path / "app" / "models"
    monkeypatch.setattr("core.paths.bundled_models_dir", lambda: shipped)
    workspace_models = tmp_path / "ws" / "models"
    workspace_models.mkdir(parents=True)
    assert "multilingual-e5-small" not in embedder.available(workspace_models)
    _e5(shipped)
    assert embedder.available(workspace_models)["multilingual-e5-small"] == \
        shipped / "multilingual-e5-small"
    assert embedder.onnx_folder(workspace_models, "multilingual-e5-small") == \
        shipped / "onnx" / "multilingual-e5-small"


def test_the_workspace_copy_wins(tmp_path, monkeypatch):
    shipped = tmp_path / "app" / "models"
    monkeypatch.setattr("core.paths.bundled_models_dir", lambda: shipped)
    _e5(shipped)
    own = _e5(tmp_path / "ws" / "models")
    assert embedder.available(own.parent)["multilingual-e5-small"] == own
    assert embedder.onnx_folder(own.parent, "multilingual-e5-small") == \
        own.parent / "onnx" / "multilingual-e5-small"
    # With neither, the workspace's path is named (where setup would put it).
    empty = tmp_path / "empty"
    monkeypatch.setattr("core.paths.bundled_models_dir", lambda: tmp_path / "none")
    assert embedder.onnx_folder(empty, "multilingual-e5-small") == \
        empty / "onnx" / "multilingual-e5-small"
