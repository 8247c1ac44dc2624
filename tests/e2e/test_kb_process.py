"""The embedding model in a child process (what the app runs): the real paired models,
the real chromadb, and what happens when the child dies."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from core.errors import EmbedderError
from core.kb.embedder import PAIRED_CS
from core.kb.index import KnowledgeBase, params_for
from core.kb.isolated import ProcessEmbedder
from tests.conftest import REAL_MODELS_DIR

pytestmark = pytest.mark.model

DOCS = {
    "refunds.md": "# Refunds\nCard refunds reach the original card 5-10 business days after "
                  "the warehouse inspects the return.",
    "退货.md": "# 退货政策\n签收后七天内可以无理由退货，商品需保持完好，退货运费由买家承担。",
    "lamp.md": "# Desk lamp\nThe lamp's dimmer has five levels; hold the button to switch it "
               "off.",
}


@pytest.fixture
def folder(tmp_path, e5_model):  # e5_model: fails clearly when setup did not build it
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    return docs


def test_child_process_embeds_searches_and_survives_being_killed(tmp_path, folder, cs_model):
    embedder = ProcessEmbedder("auto", REAL_MODELS_DIR)
    assert embedder.name == PAIRED_CS and embedder.dimension == 768 and embedder.split_at == 384
    kb = KnowledgeBase(tmp_path / "kb", embedder_factory=lambda: embedder)
    kb.params = params_for(PAIRED_CS)
    kb.add_paths([folder])
    summary = list(kb.sync())[-1]
    assert len(summary.added) == 3 and not summary.skipped

    top = kb.search("how many days until my money is back on the card?", k=1)
    assert top and top[0].chunk.source.endswith("refunds.md")
    assert top[0].score > top[0].similarity   # the English model voted
    top = kb.search("退货的运费谁出？", k=1)
    assert top and top[0].chunk.source.endswith("退货.md")

    # The child dies (out of memory, killed by the user): a clear error, not a hang ...
    os.kill(embedder._proc.pid, signal.SIGKILL)
    embedder._proc.join(timeout=10)
    with pytest.raises(EmbedderError, match="stopped"):
        embedder.embed_query("anything")
    # ... and the knowledge base starts a new one on its next search.
    replacements = []
    kb._embedder_factory = lambda: replacements.append(1) or ProcessEmbedder(
        "auto", REAL_MODELS_DIR)
    top = kb.search("lamp dimmer levels", k=1)
    assert replacements == [1] and top[0].chunk.source.endswith("lamp.md")
    kb.close()
    assert not kb._embedder.alive


def test_child_process_vectors_match_in_process(tmp_path, e5_model):
    from core.kb.embedder import load_embedder

    texts = ["Card refunds take 5-10 business days.", "退货运费由买家承担。"]
    child = ProcessEmbedder("multilingual-e5-small", REAL_MODELS_DIR)
    here = load_embedder("multilingual-e5-small", REAL_MODELS_DIR)
    assert np.allclose(child.embed_passages(texts), here.embed_passages(texts), atol=1e-5)
    assert np.allclose(child.embed_query("退款"), here.embed_query("退款"), atol=1e-5)
    child.close()


def test_a_model_that_cannot_load_is_a_clear_error(tmp_path):
    not_a_model = tmp_path / "nope"
    not_a_model.mkdir()
    with pytest.raises(EmbedderError, match="not a sentence-transformers model folder"):
        ProcessEmbedder(str(not_a_model), tmp_path)
