"""A Chinese sentiment lexicon with negation, degree and contrast: a second opinion
beside the sentence vectors, for the words a multilingual embedding reads weakly in
Chinese reviews (卡顿, 掉色, 智商税, 物超所值...).

The lexicon (resources/analysis/lexicon_zh.tsv, written for this project, CC0) holds
terms with a polarity from -3 to 3 (``pol``), negators (``neg``), degree adverbs with a
multiplier (``deg``) and contrast words after which a clause counts for more (``but``).
Scoring matches the longest term at each position, clause by clause: a polarity term
takes the degree and negation before it in its clause, and a contrast word weighs what
came before it in the sentence down and what follows up.  Where a polarity term's last
character opens a polarity term of the other sign ("效果好差": 效果好 and 好差), the second
reading wins: there 好 is "very", not "good".  Pure Python, no segmenter.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.analysis.heads import AnalysisError
from core.paths import resources_dir

LEXICON_FILE = "lexicon_zh.tsv"
NEGATED = -0.8          # 不好 is bad, 不太好 less bad than 差: a negated term flips and shrinks
BEFORE_CONTRAST = 0.5   # "好看，但是掉色": what came before 但是 counts half
AFTER_CONTRAST = 1.5    # ... and what follows half again
_CLAUSE = re.compile(r"[，,。.!！?？；;：:~～\n\r\t…]+|\s{2,}")
_SENTENCE_END = re.compile(r"[。.!！?？\n]")


@dataclass
class Lexicon:
    polarity: dict[str, float] = field(default_factory=dict)
    negators: set[str] = field(default_factory=set)
    degrees: dict[str, float] = field(default_factory=dict)
    contrasts: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._longest = max((len(t) for t in self._terms()), default=1)

    def _terms(self):
        yield from self.polarity
        yield from self.negators
        yield from self.degrees
        yield from self.contrasts

    @classmethod
    def load(cls, path: Path | None = None) -> "Lexicon":
        path = path or resources_dir() / "analysis" / LEXICON_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise AnalysisError(f"The analyser's lexicon {path} is missing; reinstall "
                                f"Kefu Assist.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise AnalysisError(f"The analyser's lexicon {path} cannot be read ({exc}).") \
                from None
        polarity: dict[str, float] = {}
        degrees: dict[str, float] = {}
        negators: set[str] = set()
        contrasts: set[str] = set()
        for line in text.splitlines()[1:]:          # the first line is the header
            parts = [part.strip() for part in line.split("\t")]
            if len(parts) != 3 or not parts[0]:
                continue
            term, kind, value = parts
            try:
                number = float(value)
            except ValueError:
                continue
            if kind == "pol":
                polarity[term] = number
            elif kind == "deg":
                degrees[term] = number
            elif kind == "neg":
                negators.add(term)
            elif kind == "but":
                contrasts.add(term)
        return cls(polarity, negators, degrees, contrasts)

    def _match(self, text: str, at: int, longest: int | None = None) -> tuple[str, str] | None:
        """The longest term starting at ``at`` (of at most ``longest`` characters), with
        its kind."""
        for size in range(min(longest or self._longest, len(text) - at), 0, -1):
            term = text[at:at + size]
            if term in self.polarity:
                return term, "pol"
            if term in self.contrasts:
                return term, "but"
            if term in self.negators:
                return term, "neg"
            if term in self.degrees:
                return term, "deg"
        return None

    def _yields(self, text: str, at: int, term: str) -> bool:
        """Whether the polarity term ``term`` at ``at`` gives up its last character to a
        polarity term of the other sign that starts there ("效果好|好差")."""
        if len(term) < 2:
            return False
        end = at + len(term)
        following = self._match(text, end - 1)
        return (following is not None and following[1] == "pol" and len(following[0]) > 1
                and self.polarity[following[0]] * self.polarity[term] < 0)

    def _clause(self, clause: str) -> tuple[float, bool]:
        """(score of the clause, whether it opens with a contrast word)."""
        score, negations, degree, weight, at = 0.0, 0, 1.0, 1.0, 0
        opens = False
        while at < len(clause):
            found = self._match(clause, at)
            if found is None:
                at += 1
                continue
            term, kind = found
            if kind == "pol" and self._yields(clause, at, term):
                found = self._match(clause, at, len(term) - 1)
                if found is None:
                    at += len(term) - 1
                    continue
                term, kind = found
            if kind == "pol":
                value = self.polarity[term] * degree * weight
                score += value * (NEGATED if negations % 2 else 1.0)
                negations, degree = 0, 1.0
            elif kind == "neg":
                negations += 1
            elif kind == "deg":
                degree *= self.degrees[term]
            elif kind == "but":
                if score == 0.0 and weight == 1.0:
                    opens = True        # the sentence's earlier clauses are what it turns from
                else:                   # "好看但是掉色": within the clause
                    score *= BEFORE_CONTRAST
                    weight = AFTER_CONTRAST
                negations, degree = 0, 1.0
            at += len(term)
        return score, opens

    def score(self, text: str) -> float:
        """The text's sentiment, squashed to -1 … 1 (0: no sentiment word found)."""
        total = 0.0
        for sentence in _SENTENCE_END.split(text[:20000]):
            sentence_score = 0.0
            for clause in _CLAUSE.split(sentence):
                if not clause:
                    continue
                value, opens = self._clause(clause)
                if opens:
                    sentence_score = sentence_score * BEFORE_CONTRAST + value * AFTER_CONTRAST
                else:
                    sentence_score += value
            total += sentence_score
        return math.tanh(total / 4.0)
