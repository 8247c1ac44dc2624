"""Models an installer ships beside the code (core.paths.bundled_models_dir) are found
when the workspace has none of its own, and the workspace's own copy wins."""

from __future__ import annotations

import pytest

from core.errors import EmbedderError
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


def _fake_model(folder, name):
    model = folder / name
    model.mkdir(parents=True)
    (model / "modules.json").write_text("[]", encoding="utf-8")
    return model


def test_auto_pairs_the_fine_tuned_english_model_when_setup_made_it(tmp_path, monkeypatch):
    """The knowledge base's default is e5 with the English model setup fine-tuned
    (scripts/train_retriever.py), else e5 with the stock one: two names, so an index built
    with one shows as outdated under the other."""
    monkeypatch.setattr("core.paths.bundled_models_dir", lambda: tmp_path / "none")
    models = tmp_path / "models"
    _fake_model(models, "multilingual-e5-small")
    assert embedder.embedder_name("auto", models) == embedder.PAIRED
    _fake_model(models, "all-MiniLM-L6-v2-cs")
    assert embedder.embedder_name("auto", models) == embedder.PAIRED_CS
    # Either pair can be asked for by name.
    assert embedder.embedder_name(embedder.PAIRED, models) == embedder.PAIRED
    assert embedder.embedder_name(embedder.PAIRED_CS, models) == embedder.PAIRED_CS


def test_the_shipped_fine_tuned_model_is_found(tmp_path, monkeypatch):
    shipped = tmp_path / "app" / "models"
    monkeypatch.setattr("core.paths.bundled_models_dir", lambda: shipped)
    _e5(shipped)
    _fake_model(shipped, "all-MiniLM-L6-v2-cs")
    workspace_models = tmp_path / "ws" / "models"
    workspace_models.mkdir(parents=True)
    assert embedder.embedder_name("auto", workspace_models) == embedder.PAIRED_CS


def test_asking_for_the_fine_tuned_pair_without_it_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr("core.paths.bundled_models_dir", lambda: tmp_path / "none")
    _fake_model(tmp_path / "models", "multilingual-e5-small")
    with pytest.raises(EmbedderError, match="dev.sh setup"):
        embedder.embedder_name(embedder.PAIRED_CS, tmp_path / "models")


def test_doctor_reports_each_embedding_model_and_its_onnx_export(tmp_path, monkeypatch):
    import json

    from core.kb import onnxquery

    monkeypatch.setattr("core.paths.bundled_models_dir", lambda: tmp_path / "none")
    models = tmp_path / "models"
    e5 = _fake_model(models, "multilingual-e5-small")
    report = embedder.installed_report("auto", models)
    assert report["knowledge_base"] == embedder.PAIRED and report["error"] is None
    by_key = {m["key"]: m for m in report["models"]}
    assert by_key["multilingual-e5-small"] == {"key": "multilingual-e5-small",
                                               "folder": str(e5), "onnx": "missing"}
    assert by_key["all-MiniLM-L6-v2-cs"]["folder"] is None
    export = models / "onnx" / "multilingual-e5-small"
    export.mkdir(parents=True)
    (export / onnxquery.MANIFEST).write_text(json.dumps({"fingerprint": "another model"}))
    assert embedder.installed_report("auto", models)["models"][0]["onnx"] == "stale"
    (export / onnxquery.MANIFEST).write_text(json.dumps(
        {"fingerprint": onnxquery.fingerprint(e5)}))
    assert embedder.installed_report("auto", models)["models"][0]["onnx"] == "current"
    # A setting that cannot be met is reported, not raised.
    report = embedder.installed_report(str(tmp_path / "no-such-folder"), models)
    assert report["knowledge_base"] is None and "not a sentence-transformers" in report["error"]
