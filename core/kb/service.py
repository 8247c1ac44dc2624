"""Open the workspace's knowledge base with the configured embedding model."""

from __future__ import annotations

from core.kb.embedder import load_embedder
from core.kb.index import KnowledgeBase
from core.paths import Workspace
from core.settings import Settings


def open_kb(workspace: Workspace, settings: Settings, *, threads: int = 1,
            isolated: bool = False) -> KnowledgeBase:
    """``threads``: torch CPU threads; more than one only where no model drafts on the
    same cores at the same time (see ``embedder._limit_torch_threads``).  ``isolated``
    runs the embedding model in a child process (the app: its load and its encoding then
    never hold the window's interpreter lock)."""
    if isolated:
        from core.kb.isolated import ProcessEmbedder

        def factory():
            return ProcessEmbedder(settings.kb_embedder, workspace.models_dir, threads=threads)
    else:
        def factory():
            return load_embedder(settings.kb_embedder, workspace.models_dir, threads=threads)
    return KnowledgeBase(workspace.kb_dir, embedder_factory=factory)
