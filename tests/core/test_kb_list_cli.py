"""`kefu kb list` tells a knowledge base indexed with another embedding model, without
loading any model (it reads the manifest and which models are installed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.kb.embedder import EmbedderError, embedder_name
from core.kb.index import KnowledgeBase
from core.paths import Workspace
from tests.conftest import ROOT
from tests.kbfixtures import FakeEmbedder


def kb_list(workspace) -> dict:
    env = dict(os.environ, KEFU_HOME=str(workspace), PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "app.launcher", "kb", "list", "--json"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_knowledge_base_indexed_with_another_model_lists_as_outdated(tmp_path):
    ws = Workspace.at(tmp_path / "ws").ensure()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text("# Returns\nReturns are free within 30 days.", "utf-8")
    kb = KnowledgeBase(ws.kb_dir, embedder_factory=FakeEmbedder)
    kb.add_paths([docs])
    list(kb.sync())
    kb.close()
    listed = kb_list(tmp_path / "ws")
    assert listed["indexed_with"] == "fake-bow-64"
    try:
        current = embedder_name("auto", ws.models_dir)
    except EmbedderError:
        pytest.skip("no embedding model installed to compare with")
    assert listed["embedder"] == current != "fake-bow-64"
    assert [d["status"] for d in listed["documents"]] == ["outdated"]
    assert "kefu kb sync" in listed["documents"][0]["reason"]


def test_embedder_name_of_a_folder_setting(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    with pytest.raises(EmbedderError, match="not a sentence-transformers model folder"):
        embedder_name(str(folder), tmp_path)
    (folder / "modules.json").write_text("[]", "utf-8")
    assert embedder_name(str(folder), tmp_path) == "custom:my-model"
