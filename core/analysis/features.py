"""Features for the analyser: multilingual-e5-small embeddings of each sentence, and
for a whole message the mean of its sentences' plus, for English, all-MiniLM-L6-v2's
embedding of the message (English intents are told apart far better with it).

Training (scripts/train_analysis.py) and analysis compute features through this one
module, so they cannot drift apart.  Both models run on ONNX Runtime when setup has
exported them (core/kb/onnxquery.py; the vectors are sentence-transformers' own, checked
at export): no PyTorch in the analysing process, a fraction of its memory and load time.
Without an export they run on sentence-transformers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.analysis.sentences import Span, formulaic, split
from core.kb.embedder import load_embedder, load_onnx_embedder
from core.lang import detect_language

E5 = "multilingual-e5-small"
MINILM = "all-MiniLM-L6-v2"
E5_DIM = MINILM_DIM = 384
MAX_MESSAGE_CHARS = 20_000     # the rest of a huge message is not analysed
# Bumped whenever a message's features change for the same text (training caches
# vectors by text and this version).  2: greetings, closings and signatures left out of
# the message vector.
FEATURES_VERSION = 2


@dataclass(frozen=True)
class MessageFeatures:
    lang: str
    sentences: list[Span]
    sentence_vectors: np.ndarray    # (sentences, E5_DIM)
    message_vector: np.ndarray      # (E5_DIM + MINILM_DIM,)
    formulaic: tuple[bool, ...] = ()   # per sentence: a greeting, closing or signature


class Featurizer:
    """Owns the two embedding models (loaded once, on the thread that uses them)."""

    def __init__(self, models_dir: Path, *, threads: int = 1) -> None:
        self._e5 = _load(E5, models_dir, threads)
        self._minilm = _load(MINILM, models_dir, threads)
        self.names = {"e5": self._e5.name, "minilm": self._minilm.name}
        self.runtime = {"e5": _runtime(self._e5), "minilm": _runtime(self._minilm)}

    def _sentences(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, E5_DIM), dtype=np.float32)
        return self._e5.embed_queries(texts)

    def messages(self, texts: list[str], *, english_model: bool = True
                 ) -> list[MessageFeatures]:
        """Features of each text: sentence vectors and a message vector, in one batch
        (``english_model=False`` leaves the English model's half zero: training the
        sentiment head, which reads only the multilingual half)."""
        texts = [t[:MAX_MESSAGE_CHARS] for t in texts]
        spans = [split(t) for t in texts]
        flat = [s.text for ss in spans for s in ss]
        vectors = self._sentences(flat)
        langs = [detect_language(t) for t in texts]
        english = [i for i, lang in enumerate(langs)
                   if english_model and lang == "en" and spans[i]]
        second = self._minilm.embed_passages([texts[i] for i in english]) if english \
            else np.zeros((0, MINILM_DIM), dtype=np.float32)
        minilm = {i: second[n] for n, i in enumerate(english)}
        out, at = [], 0
        for i, ss in enumerate(spans):
            own = vectors[at:at + len(ss)]
            at += len(ss)
            marks = formulaic(ss)
            said = own[[not m for m in marks]]      # what the customer says: the opinion
            mean = said.mean(axis=0) if len(said) else np.zeros(E5_DIM, dtype=np.float32)
            norm = float(np.linalg.norm(mean))
            mean = mean / norm if norm else mean
            out.append(MessageFeatures(
                lang=langs[i], sentences=ss, sentence_vectors=own,
                message_vector=np.concatenate(
                    [mean, minilm.get(i, np.zeros(MINILM_DIM, dtype=np.float32))]),
                formulaic=tuple(marks)))
        return out


def _load(key: str, models_dir: Path, threads: int):
    light = load_onnx_embedder(key, models_dir, threads=threads)
    return light if light is not None else load_embedder(key, models_dir, threads=threads)


def _runtime(embedder) -> str:
    from core.kb.onnxquery import OnnxEmbedder

    return "onnxruntime" if isinstance(embedder, OnnxEmbedder) else "pytorch"
