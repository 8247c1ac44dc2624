"""Drafting: a ticket in, a streamed reply out.

``draft()`` ties the prompt builder to an engine.  It yields the engine's events
plus a ``DraftNotes`` first (what was trimmed to fit) and a ``DraftResult`` last,
so a GUI, the CLI and the benchmarks all drive the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence, Union

from core.engine import (Engine, GenerationDone, PromptProgress, SamplingParams, StopFlag,
                         TokenDelta)
from core.errors import EngineNotLoadedError
from core.kb.grounding import Source, citations_for, unsupported_figures
from core.prompt import build_prompt
from core.settings import Settings
from core.tickets import Ticket

# Tokens kept free between the prompt and the draft, for the template's closing tokens.
CONTEXT_MARGIN = 16


@dataclass(frozen=True)
class DraftNotes:
    lang: str
    notes: tuple[str, ...]
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True)
class DraftResult:
    text: str
    lang: str
    model: str
    tokens: int
    prompt_tokens: int
    reused_tokens: int
    seconds: float
    first_token_seconds: float
    tokens_per_second: float
    stop_reason: str
    notes: tuple[str, ...] = field(default=())
    citations: tuple[Source, ...] = field(default=())     # the passages the draft cites
    unsupported: tuple[str, ...] = field(default=())      # figures found in no cited passage

    def to_json(self) -> dict:
        return {
            "text": self.text, "lang": self.lang, "tokens": self.tokens,
            "seconds": round(self.seconds, 3), "model": self.model,
            "prompt_tokens": self.prompt_tokens, "reused_tokens": self.reused_tokens,
            "first_token_seconds": round(self.first_token_seconds, 3),
            "tokens_per_second": round(self.tokens_per_second, 2),
            "stop_reason": self.stop_reason, "notes": list(self.notes),
            "citations": [{"number": c.number, "source": c.source, "text": c.text}
                          for c in self.citations],
            "unsupported": list(self.unsupported),
        }


DraftEvent = Union[DraftNotes, PromptProgress, TokenDelta, DraftResult]

# Small models sometimes copy the fence markers of the quoted thread into the reply.
_MARKERS = ("<thread>", "</thread>")


class MarkerFilter:
    """Removes fence markers and leading blank space from a token stream, across chunks."""

    def __init__(self) -> None:
        self._held = ""
        self._started = False

    def feed(self, text: str) -> str:
        held = self._held + text
        for marker in _MARKERS:
            held = held.replace(marker, "")
        keep = 0  # a tail that may still grow into a marker waits for the next chunk
        for marker in _MARKERS:
            for size in range(min(len(marker) - 1, len(held)), 0, -1):
                if held.endswith(marker[:size]):
                    keep = max(keep, size)
                    break
        out, self._held = held[:len(held) - keep], held[len(held) - keep:]
        if not self._started:
            out = out.lstrip()
            self._started = bool(out)
        return out

    def flush(self) -> str:
        out, self._held = self._held, ""
        return out if self._started else out.lstrip()


def draft(engine: Engine, ticket: Ticket, settings: Settings, *, stop: StopFlag,
          max_tokens: int | None = None, seed: int | None = None,
          sources: Sequence[Source] | None = None, product: str = ""
          ) -> Iterator[DraftEvent]:
    """Stream a draft of ``ticket``.

    ``sources`` are the knowledge-base passages retrieved for the ticket: ``None`` when
    there is no knowledge base, an empty list when it had nothing relevant (the draft is
    then told to promise nothing and say the agent will check).  ``product`` is a catalog
    suggestion the draft may mention (``Recommendation.prompt_line``), or empty.
    """
    info = engine.info
    if info is None:
        raise EngineNotLoadedError("No model is loaded; load one before drafting.")
    params = SamplingParams.from_settings(settings, max_tokens=max_tokens, seed=seed)
    # The draft may never be squeezed out by the thread: cap it at half the context.
    params = SamplingParams(max_tokens=min(params.max_tokens, info.n_ctx // 2),
                            temperature=params.temperature, top_p=params.top_p,
                            seed=params.seed)
    budget = info.n_ctx - params.max_tokens - CONTEXT_MARGIN
    prompt = build_prompt(ticket, settings, budget_tokens=budget,
                          count_tokens=engine.count_tokens, sources=sources,
                          product=product)
    notes = prompt.notes
    if sources is not None and not sources:
        notes += ("No knowledge-base passage matched this ticket: the draft states no "
                  "policy. Check the facts before sending.",)
    yield DraftNotes(lang=prompt.lang, notes=notes, sources=tuple(sources or ()))
    clean = MarkerFilter()
    written: list[str] = []
    for event in engine.generate(prompt.messages, params, stop=stop):
        if isinstance(event, TokenDelta):
            text = clean.feed(event.text)
            if text:
                written.append(text)
                yield TokenDelta(text)
        elif isinstance(event, GenerationDone):
            tail = clean.flush()
            if tail:
                written.append(tail)
                yield TokenDelta(tail)
            text = "".join(written).strip()
            cited = tuple(citations_for(text, sources or ()))
            yield DraftResult(
                text=text, lang=prompt.lang, model=info.model_name,
                tokens=event.tokens, prompt_tokens=event.prompt_tokens,
                reused_tokens=event.reused_tokens, seconds=event.seconds,
                first_token_seconds=event.prompt_seconds,
                tokens_per_second=event.tokens_per_second, stop_reason=event.stop_reason,
                notes=notes, citations=cited,
                unsupported=tuple(unsupported_figures(text, cited, ticket, extra=product)))
        else:
            yield event
