"""Queries through ONNX Runtime (the exports setup made) give the model's own vectors,
and a missing or stale export falls back to PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.kb.embedder import PAIRED_CS, load_embedder, onnx_folder
from tests.conftest import REAL_MODELS_DIR
from tests.e2e.conftest import modules_after

pytestmark = pytest.mark.model

QUERIES = ["how long does a refund take?", "电热水壶保修几年", "退貨運費由誰承擔？",
           "AF-45 shows E3 " * 40]   # the last one is cut at the model's length limit


def test_onnx_queries_match_sentence_transformers(e5_model, cs_model):
    for key in ("multilingual-e5-small", "all-MiniLM-L6-v2", "all-MiniLM-L6-v2-cs"):
        if not (onnx_folder(REAL_MODELS_DIR, key) / "kefu-onnx.json").is_file():
            pytest.fail(f"setup did not export {key} to ONNX; run `scripts/dev.sh test`")
    embedder = load_embedder("auto", REAL_MODELS_DIR)
    assert embedder.name == PAIRED_CS
    for model in (embedder.primary, embedder.secondary):
        assert model.query_runtime == "onnxruntime"
        for query in QUERIES:
            reference = model._encode([model.query_prefix + query])[0]
            assert float(np.dot(model.embed_query(query), reference)) > 0.9999


def test_a_stale_or_missing_export_falls_back_to_pytorch(tmp_path, e5_model):
    models = tmp_path / "models"
    models.mkdir()
    (models / "multilingual-e5-small").symlink_to(e5_model, target_is_directory=True)
    embedder = load_embedder("multilingual-e5-small", models)
    assert embedder.query_runtime == "pytorch"          # no export here at all
    real = onnx_folder(REAL_MODELS_DIR, "multilingual-e5-small")
    stale = onnx_folder(models, "multilingual-e5-small")
    stale.mkdir(parents=True)
    (stale / "model.onnx").symlink_to(real / "model.onnx")
    recorded = json.loads((real / "kefu-onnx.json").read_text())
    (stale / "kefu-onnx.json").write_text(json.dumps({**recorded,
                                                      "fingerprint": "of another model"}))
    embedder = load_embedder("multilingual-e5-small", models)
    assert embedder.query_runtime == "pytorch"
    assert float(np.dot(embedder.embed_query("退款"),
                        embedder._encode(["query: 退款"])[0])) > 0.9999


PASSAGES = ["Harbor Electric Kettle\nKitchen Appliances\n1.7 L stainless kettle, auto shut-off.",
            "星环智能台灯（HomeKit版）\n台灯\n支持 Apple HomeKit，Type-C 供电。" * 4,
            "AF-45 Replacement Basket " * 80]


def test_the_product_embedder_runs_on_onnx_alone_with_the_models_vectors(e5_model):
    """Products are embedded without PyTorch (hundreds of MB, not two GB), and the
    vectors are the sentence-transformers model's, so either may fill the index."""
    from core.kb.embedder import load_onnx_embedder

    light = load_onnx_embedder("multilingual-e5-small", REAL_MODELS_DIR)
    assert light is not None and light.name == "multilingual-e5-small"
    full = load_embedder("multilingual-e5-small", REAL_MODELS_DIR)
    mine, theirs = light.embed_passages(PASSAGES), full.embed_passages(PASSAGES)
    assert (np.sum(mine * theirs, axis=1) > 0.9999).all()
    assert float(np.dot(light.embed_query("电热水壶"), full.embed_query("电热水壶"))) > 0.9999
    # Batches of mixed lengths (padded, masked) give each text its own vector.
    batch = light.embed_queries(QUERIES + ["电热水壶"])
    assert (np.sum(batch * full.embed_queries(QUERIES + ["电热水壶"]), axis=1) > 0.9999).all()
    assert float(np.dot(batch[-1], light.embed_query("电热水壶"))) > 0.9999
    # In a fresh process, recommending products imports no torch at all.
    printed, torch = modules_after(
        "from core.kb.embedder import load_onnx_embedder\n"
        "e = load_onnx_embedder('multilingual-e5-small', MODELS)\n"
        "e.embed_passages(['kettle']); e.embed_query('kettle')")
    assert printed == "" and not torch
