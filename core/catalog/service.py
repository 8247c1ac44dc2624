"""Open the workspace's catalog with the configured embedding model."""

from __future__ import annotations

from core.catalog.recommend import Recommender
from core.catalog.store import CatalogStore
from core.paths import Workspace
from core.settings import Settings


def open_recommender(workspace: Workspace, settings: Settings, *, threads: int = 1,
                     isolated: bool = False) -> Recommender:
    """The catalog's recommender.  Its embedding model runs on ONNX Runtime in this
    process when setup exported it (a few hundred MB, no PyTorch); otherwise through
    sentence-transformers, in a child process when ``isolated`` (the app: see
    ``core.kb.isolated``).  ``products_embedder = 'none'`` searches by keyword only."""
    store = CatalogStore(workspace.catalog_db)
    setting = settings.products_embedder
    if setting == "none":
        return Recommender(store)

    def factory():
        from core.kb.embedder import load_embedder, load_onnx_embedder

        light = load_onnx_embedder(setting, workspace.models_dir, threads=threads)
        if light is not None:
            return light
        if isolated:
            from core.kb.isolated import ProcessEmbedder

            return ProcessEmbedder(setting, workspace.models_dir, threads=threads)
        return load_embedder(setting, workspace.models_dir, threads=threads)

    return Recommender(store, embedder_factory=factory)
