"""Open the workspace's knowledge base with the configured embedding model."""

from __future__ import annotations

from core.kb.embedder import load_embedder
from core.kb.index import KnowledgeBase
from core.paths import Workspace
from core.settings import Settings


def open_kb(workspace: Workspace, settings: Settings, *, threads: int = 1) -> KnowledgeBase:
    """``threads``: torch CPU threads; more than one only where no model drafts in this
    process (see ``embedder._limit_torch_threads``)."""
    return KnowledgeBase(workspace.kb_dir, embedder_factory=lambda: load_embedder(
        settings.kb_embedder, workspace.models_dir, threads=threads))
