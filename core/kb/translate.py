"""The search query in the knowledge base's other language, written by the drafting model.

A multilingual embedder rates a passage in the query's own language well above an equally
relevant one in the other language, so a Chinese question rarely ranks the English
manual that answers it first, and the glossary's keywords find it only some of the time
(docs/benchmarks.md).  When the knowledge base holds both languages, the model that will
write the draft first translates the ticket's question (a second or two on two cores),
and the search ranks the other language's passages by their similarity to that
translation (``KnowledgeBase.search(translated=...)``).

The translation is only ever a search query: it is never shown, sent or put into the
draft's prompt.  A small model sometimes answers instead of translating; an answer is
still about the same topic, and the search keeps its threshold, so the worst case is a
weaker other-language slot.
"""

from __future__ import annotations

import logging
from typing import Iterable

from core.engine import Engine, SamplingParams, StopFlag, TokenDelta
from core.lang import detect_language
from core.prompt import ChatMessage

log = logging.getLogger("kefu.kb.translate")

MAX_INPUT_CHARS = 200      # the subject and the start of the question: enough to search by
MAX_TOKENS = 80
_TARGET_NAMES = {"en": "English", "zh": "Simplified Chinese"}
# One worked example, so the model translates rather than answers.
_EXAMPLE = {"zh": "退货运费谁出？订单号 1024", "en": "Who pays the return shipping? Order 1024"}


def translation_target(query: str, kb_languages: Iterable[str]) -> str | None:
    """The language to translate ``query`` into ("en" or "zh"), or None when the
    knowledge base has no passages in a language other than the query's."""
    source = detect_language(query)[:2]
    target = "en" if source == "zh" else "zh"
    return target if target in set(kb_languages) else None


def translation_messages(text: str, target: str) -> list[ChatMessage]:
    source = "zh" if target == "en" else "en"
    system = (f"You are a translator. Translate the customer's message into "
              f"{_TARGET_NAMES[target]}. Never answer it or add anything; output only the "
              f"translation, on one line.")
    return [ChatMessage("system", system),
            ChatMessage("user", _EXAMPLE[source]),
            ChatMessage("assistant", _EXAMPLE[target]),
            ChatMessage("user", " ".join(text[:MAX_INPUT_CHARS].split()))]


def clean_translation(raw: str, target: str) -> str | None:
    """The first line of the model's output, unquoted; None when it is empty or not in
    the target language (the model echoed the question)."""
    line = next((part.strip() for part in raw.strip().splitlines() if part.strip()), "")
    line = line.strip("\"'“”「」 ")
    if not line or detect_language(line)[:2] != target:
        return None
    return line


def translate_query(engine: Engine, text: str, target: str, *,
                    stop: StopFlag | None = None) -> str | None:
    """``text`` translated into ``target`` by ``engine``'s model, greedily; None when the
    model gave no usable translation or was stopped."""
    if target not in _TARGET_NAMES or not text.strip():
        return None
    stop = stop or StopFlag()
    params = SamplingParams(max_tokens=MAX_TOKENS, temperature=0.0, top_p=1.0, seed=1)
    parts: list[str] = []
    for event in engine.generate(translation_messages(text, target), params, stop=stop):
        if isinstance(event, TokenDelta):
            parts.append(event.text)
            if "\n" in event.text and "".join(parts).strip():
                break               # one line is all we use: do not decode the rest
    if stop.is_set():
        return None
    translated = clean_translation("".join(parts), target)
    log.info("Search query translated into %s (%s)", target,
             f"{len(translated)} characters" if translated else "no usable translation")
    return translated
