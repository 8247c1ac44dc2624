"""The trained classifier heads: linear layers over sentence embeddings, stored as one
``.npz`` file in ``resources/analysis/`` (written by ``scripts/train_analysis.py``).

Only numpy at run time.  The file records which embedding models its features came
from; a head trained on other features is refused rather than silently wrong.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import KefuError
from core.paths import resources_dir

HEADS_FILE = "heads.npz"
HEAD_NAMES = ("sentiment", "sentiment_zh", "subjectivity", "intent", "escalation",
              "escalation_gate")


class AnalysisError(KefuError):
    """The analyser's model files are missing, damaged or do not fit the embedders."""


@dataclass(frozen=True)
class LinearHead:
    """``softmax(X @ weights + bias)`` over ``classes``, or with ``independent`` one
    sigmoid per class (labels that can hold together, like escalation reasons)."""

    classes: tuple[str, ...]
    weights: np.ndarray         # (features, classes)
    bias: np.ndarray            # (classes,)
    independent: bool = False

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = features @ self.weights + self.bias
        if self.independent:
            return 1.0 / (1.0 + np.exp(-logits))
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Heads:
    sentiment: LinearHead       # negative / positive, on a sentence's features
    sentiment_zh: LinearHead    # negative / positive for Chinese, on (the sentiment head's
                                # logit, the lexicon's score): core/analysis/lexicon.py
    subjectivity: LinearHead    # neutral / polar: is there an opinion at all?
    intent: LinearHead          # on a message's features (with the English model's half)
    escalation: LinearHead      # one sigmoid per reason, on a message's features
    escalation_gate: LinearHead  # no / yes, on escalation.gate_features (cues, odds, tone)
    meta: dict                  # embedders, training counts, sources


def heads_path() -> Path:
    return resources_dir() / "analysis" / HEADS_FILE


def load_heads(path: Path | None = None) -> Heads:
    path = path or heads_path()
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            heads = {name: LinearHead(tuple(meta["classes"][name]), data[f"{name}_w"],
                                      data[f"{name}_b"],
                                      independent=name in meta.get("independent", ()))
                     for name in HEAD_NAMES}
    except FileNotFoundError:
        raise AnalysisError(f"The analyser's model file {path} is missing; run "
                            f"`python scripts/train_analysis.py`.") from None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise AnalysisError(f"The analyser's model file {path} is damaged ({exc}).") from None
    for name, head in heads.items():
        if head.weights.shape[1] != len(head.classes) or head.bias.shape != (len(head.classes),):
            raise AnalysisError(f"The {name} head in {path} does not match its classes.")
    return Heads(meta=meta, **heads)


def save_heads(path: Path, heads: dict[str, LinearHead], meta: dict) -> None:
    meta = dict(meta, classes={name: list(h.classes) for name, h in heads.items()},
                independent=[name for name, h in heads.items() if h.independent])
    arrays = {}
    for name, head in heads.items():
        arrays[f"{name}_w"] = head.weights.astype(np.float32)
        arrays[f"{name}_b"] = head.bias.astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, meta=np.array(json.dumps(meta, ensure_ascii=False)), **arrays)
