"""Open the workspace's catalog with the configured embedding model."""

from __future__ import annotations

from core.catalog.recommend import Recommender
from core.catalog.store import CatalogStore
from core.paths import Workspace
from core.settings import Settings


def open_recommender(workspace: Workspace, settings: Settings, *, threads: int = 1,
                     isolated: bool = False) -> Recommender:
    """``isolated`` runs the embedding model in a child process (the app: see
    ``core.kb.isolated``); ``products_embedder = 'none'`` searches by keyword only."""
    store = CatalogStore(workspace.catalog_db)
    setting = settings.products_embedder
    if setting == "none":
        return Recommender(store)
    if isolated:
        from core.kb.isolated import ProcessEmbedder

        def factory():
            return ProcessEmbedder(setting, workspace.models_dir, threads=threads)
    else:
        from core.kb.embedder import load_embedder

        def factory():
            return load_embedder(setting, workspace.models_dir, threads=threads)
    return Recommender(store, embedder_factory=factory)
