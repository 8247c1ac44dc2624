"""A Chinese-English glossary of e-commerce service terms, for cross-language keywords.

The multilingual embedding model rates a passage in the query's own language higher than
an equally relevant one in the other language, so a Chinese question about the warranty
ranks the English warranty page below English pages on other topics.  Keyword search
cannot help across languages on its own; with the glossary, ``translate_terms("保修期多久")``
gives "warranty guarantee warranty period how long", and those words find the English
page.  The shipped glossary (``resources/glossary/ecommerce-zh-en.tsv``) is general service
vocabulary; a store can add its own lines (product names) in a ``glossary.tsv`` of the same
format, given to ``Glossary.load``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from core.paths import resources_dir

DEFAULT_FILE = "glossary/ecommerce-zh-en.tsv"
_HAN = re.compile(r"[\u4e00-\u9fff]")


class Glossary:
    def __init__(self, pairs: list[tuple[tuple[str, ...], tuple[str, ...]]]) -> None:
        self._zh: list[tuple[str, tuple[str, ...]]] = []     # Chinese term -> English terms
        self._en: list[tuple[re.Pattern, tuple[str, ...]]] = []  # English term -> Chinese
        for zh_terms, en_terms in pairs:
            for term in zh_terms:
                self._zh.append((term, en_terms))
            for term in en_terms:
                pattern = re.compile(r"\b" + r"\s+".join(map(re.escape, term.split())) + r"\b",
                                     re.IGNORECASE)
                self._en.append((pattern, zh_terms))
        self._zh.sort(key=lambda item: -len(item[0]))   # longest first: 电热水壶 before 水壶

    @classmethod
    def parse(cls, text: str) -> "Glossary":
        pairs = []
        for line in text.splitlines():
            if not line.strip() or line.lstrip().startswith("#") or "\t" not in line:
                continue
            zh, en = line.split("\t", 1)
            zh_terms = tuple(t.strip() for t in zh.split(",") if t.strip())
            en_terms = tuple(t.strip().lower() for t in en.split(",") if t.strip())
            if zh_terms and en_terms:
                pairs.append((zh_terms, en_terms))
        return cls(pairs)

    @classmethod
    def load(cls, *extra: Path) -> "Glossary":
        """The shipped glossary plus any extra files (missing ones are ignored)."""
        text = (resources_dir() / DEFAULT_FILE).read_text(encoding="utf-8")
        for path in extra:
            if path.is_file():
                text += "\n" + path.read_text(encoding="utf-8-sig")
        return cls.parse(text)

    def translate_terms(self, query: str) -> str:
        """The other language's words for the terms found in ``query`` ("" if none)."""
        found: list[str] = []
        if _HAN.search(query):
            rest = query
            for term, targets in self._zh:
                if term in rest:
                    found.extend(targets)
                    rest = rest.replace(term, " ")   # a longer term wins over its parts
        else:
            for pattern, targets in self._en:
                if pattern.search(query):
                    found.extend(targets)
        return " ".join(dict.fromkeys(found))


@lru_cache(maxsize=1)
def product_glossary() -> Glossary:
    """The shipped glossary plus the names of home goods (product search)."""
    return Glossary.load(resources_dir() / "glossary" / "home-goods-zh-en.tsv")


@lru_cache(maxsize=1)
def default_glossary() -> Glossary:
    return Glossary.load()
