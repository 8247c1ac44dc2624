"""The analyser: sentiment on five levels (and per sentence), escalation risk with its
reasons, intent, urgency and language, for one message or a batch.

Sentence vectors come from multilingual-e5-small; linear heads trained by
``scripts/train_analysis.py`` (resources/analysis/heads.npz) read them.  Escalation:
the rules in ``escalation.py`` find cues (and say where in the text), the escalation
head gives each reason's odds from the message's meaning (threats the rules do not
know), and the gate, trained on both and on the message's tone, decides whether the
message is an escalation at all.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.analysis import escalation as rules
from core.analysis.features import E5_DIM, Featurizer, MessageFeatures
from core.analysis.heads import Heads, load_heads
from core.analysis.lexicon import Lexicon

log = logging.getLogger("kefu.analysis")

SENTIMENTS = ("very_negative", "negative", "neutral", "positive", "very_positive")
NEGATIVE = frozenset({"very_negative", "negative"})
VERY = 0.95                 # polarity this sure is "very"
NEUTRAL = 0.90              # the subjectivity head this sure: no opinion (a plain request)
GATE_THRESHOLD = 0.5        # the gate's probability that a message is an escalation
REASON_ODDS = 0.8           # the escalation head's odds for a reason no cue names
WEAK_CUE_ODDS = 0.3         # ... for a weak cue's reason (or a negative message)


@dataclass(frozen=True)
class SentenceResult:
    text: str
    start: int
    end: int
    sentiment: str
    score: float                    # -1 (negative) … 1 (positive)
    reasons: tuple[str, ...] = ()   # escalation cues inside this sentence

    def to_json(self) -> dict:
        return {"text": self.text, "start": self.start, "end": self.end,
                "sentiment": self.sentiment, "score": round(self.score, 3),
                "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Analysis:
    sentiment: str
    score: float
    confidence: float
    escalation: bool
    reasons: tuple[str, ...]
    urgency: str                    # "high", "normal" or "low"
    intent: str
    intent_confidence: float
    lang: str
    sentences: tuple[SentenceResult, ...]
    cues: tuple[rules.Cue, ...] = field(default=())

    def to_json(self) -> dict:
        return {"sentiment": self.sentiment, "score": round(self.score, 3),
                "confidence": round(self.confidence, 3), "escalation": self.escalation,
                "reasons": list(self.reasons), "urgency": self.urgency,
                "intent": self.intent, "intent_confidence": round(self.intent_confidence, 3),
                "lang": self.lang, "sentences": [s.to_json() for s in self.sentences],
                "cues": [c.to_json() for c in self.cues]}


def _level(polarity: np.ndarray, p_neutral: float,
           classes: tuple[str, ...]) -> tuple[str, float, float]:
    """(five-level label, score, confidence) from the polarity head's negative/positive
    odds and the subjectivity head's odds that there is no opinion at all.  The score
    keeps the polarity's sign (so it ranks), shrunk towards 0 by that neutral odds."""
    neg, pos = (float(polarity[classes.index(c)]) for c in ("negative", "positive"))
    score = (pos - neg) * (1.0 - p_neutral)
    if p_neutral >= NEUTRAL:
        return "neutral", score, p_neutral
    if neg > pos:
        return ("very_negative" if neg >= VERY else "negative"), score, neg
    return ("very_positive" if pos >= VERY else "positive"), score, pos


class Analyzer:
    def __init__(self, featurizer: Featurizer, heads: Heads,
                 lexicon: Lexicon | None = None) -> None:
        self._features = featurizer
        self._heads = heads
        self._lexicon = lexicon or Lexicon()

    @classmethod
    def load(cls, models_dir: Path, *, threads: int = 1,
             heads_file: Path | None = None) -> "Analyzer":
        started = time.perf_counter()
        heads = load_heads(heads_file)
        featurizer = Featurizer(models_dir, threads=threads)
        analyzer = cls(featurizer, heads, Lexicon.load())
        log.info("Analyser loaded in %.1fs (%s)", time.perf_counter() - started,
                 ", ".join(f"{k} on {v}" for k, v in featurizer.runtime.items()))
        return analyzer

    def analyze(self, text: str) -> Analysis:
        return self.analyze_many([text])[0]

    def analyze_many(self, texts: list[str], *, batch: int = 64) -> list[Analysis]:
        out: list[Analysis] = []
        for start in range(0, len(texts), batch):
            part = texts[start:start + batch]
            out += [self._one(t, f) for t, f in zip(part, self._features.messages(part))]
        return out

    def _with_lexicon(self, polarity: np.ndarray, texts: list[str]) -> np.ndarray:
        """Negative/positive odds for Chinese texts: the sentiment head's logit and the
        lexicon's score through the ``sentiment_zh`` head (its classes in the same order
        as the sentiment head's)."""
        classes = self._heads.sentiment.classes
        neg, pos = classes.index("negative"), classes.index("positive")
        p = np.clip(polarity, 1e-9, 1.0)
        features = np.stack([np.log(p[:, pos] / p[:, neg]),
                             [self._lexicon.score(t) for t in texts]], axis=1)
        mixed = self._heads.sentiment_zh.probabilities(features)
        return mixed[:, [self._heads.sentiment_zh.classes.index(c) for c in classes]]

    def _one(self, text: str, f: MessageFeatures) -> Analysis:
        heads = self._heads
        senti = heads.sentiment
        if not f.sentences:        # empty, emoji or punctuation only: nothing to read
            return Analysis(sentiment="neutral", score=0.0, confidence=0.0, escalation=False,
                            reasons=(), urgency="normal", intent="other",
                            intent_confidence=0.0, lang=f.lang, sentences=())
        message = f.message_vector[None, :]
        subjective = heads.subjectivity
        neutral_at = subjective.classes.index("neutral")

        chinese = f.lang.startswith("zh")

        def levels(vectors: np.ndarray, texts: list[str],
                   polarity: np.ndarray | None = None) -> list[tuple[str, float, float]]:
            if polarity is None:
                polarity = senti.probabilities(vectors)
            if chinese:     # the vectors' opinion and the lexicon's, weighed by training
                polarity = self._with_lexicon(polarity, texts)
            neutral = subjective.probabilities(vectors)[:, neutral_at]
            return [_level(p, float(q), senti.classes) for p, q in zip(polarity, neutral)]

        said = "".join(s.text for s, form in zip(f.sentences, f.formulaic or
                                                  [False] * len(f.sentences)) if not form)
        message_polarity = senti.probabilities(message[:, :E5_DIM])
        (label, score, confidence), = levels(message[:, :E5_DIM], [said], message_polarity)
        per_sentence = levels(f.sentence_vectors, [s.text for s in f.sentences])
        for n, form in enumerate(f.formulaic):     # "Hi,", "Thanks,", the signature
            if form:
                per_sentence[n] = ("neutral", 0.0, 0.0)
        cues = rules.find_cues(text)
        odds = heads.escalation.probabilities(message)[0]
        # The gate was trained on the vectors' own negativity (without the lexicon).
        negative = float(message_polarity[0, senti.classes.index("negative")])
        gate = heads.escalation_gate.probabilities(
            rules.gate_features(text, cues, odds, negative)[None, :])[0]
        reasons: set[str] = set()
        if gate[heads.escalation_gate.classes.index("yes")] >= GATE_THRESHOLD:
            by_reason = dict(zip(heads.escalation.classes, odds))
            reasons = {c.reason for c in cues if not c.weak
                       or by_reason[c.reason] >= WEAK_CUE_ODDS or negative >= 0.5}
            reasons |= {r for r, p in by_reason.items() if p >= REASON_ODDS}
            if not reasons:       # the gate is sure, the reason is not: the likeliest
                reasons = {max(by_reason, key=by_reason.get)}
        ordered = tuple(r for r in rules.REASONS if r in reasons)
        if ordered and label == "negative":
            label = "very_negative"
        sentences = []
        for span, (s_label, s_score, _) in zip(f.sentences, per_sentence):
            inside = tuple(dict.fromkeys(c.reason for c in cues
                                         if c.start < span.end and span.start < c.end
                                         and c.reason in reasons))
            sentences.append(SentenceResult(span.text, span.start, span.end, s_label,
                                            s_score, inside))
        intent_p = heads.intent.probabilities(message)[0]
        best = int(np.argmax(intent_p))
        if ordered or rules.is_urgent(text) or label == "very_negative":
            urgency = "high"
        elif label in ("positive", "very_positive"):
            urgency = "low"
        else:
            urgency = "normal"
        return Analysis(sentiment=label, score=score, confidence=confidence,
                        escalation=bool(ordered), reasons=ordered, urgency=urgency,
                        intent=heads.intent.classes[best],
                        intent_confidence=float(intent_p[best]), lang=f.lang,
                        sentences=tuple(sentences),
                        cues=tuple(c for c in cues if c.reason in reasons))
