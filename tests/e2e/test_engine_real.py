"""The real llama.cpp engine: Stop during prompt reading, prefix reuse, context guard."""

from __future__ import annotations

import pytest

from core.drafting import DraftNotes, DraftResult, draft
from core.engine import LlamaEngine, PromptProgress, StopFlag, TokenDelta
from core.errors import ModelError
from core.settings import Settings
from core.tickets import Message, Ticket

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def engine(small_model):
    engine = LlamaEngine()
    engine.load(small_model, Settings().replace(n_ctx=2048, n_batch=64))
    yield engine
    engine.unload()


def long_ticket(turns: int) -> Ticket:
    return Ticket(subject="Order", id="long", messages=tuple(
        Message("customer" if i % 2 == 0 else "agent",
                f"Turn {i}: " + "The parcel has not arrived and I am still waiting. " * 20)
        for i in range(turns)))


def test_stop_during_prompt_reading(engine):
    stop = StopFlag()
    events = []
    for event in draft(engine, long_ticket(3), Settings(), stop=stop, max_tokens=32):
        events.append(event)
        if isinstance(event, PromptProgress) and event.done > event.reused:
            stop.set()  # after the first batch
    progress = [e for e in events if isinstance(e, PromptProgress)]
    assert progress[-1].done < progress[-1].total  # it stopped part-way
    assert not any(isinstance(e, TokenDelta) for e in events)
    assert events[-1].stop_reason == "cancelled"


def test_thread_longer_than_the_context_is_trimmed(engine):
    events = list(draft(engine, long_ticket(15), Settings(), stop=StopFlag(), max_tokens=24,
                        seed=1))
    notes = events[0]
    assert isinstance(notes, DraftNotes) and "oldest" in notes.notes[0]
    result = events[-1]
    assert isinstance(result, DraftResult) and result.prompt_tokens + 24 <= 2048
    assert result.tokens > 0


def test_regenerate_reads_only_the_last_prompt_token(engine):
    ticket = Ticket(subject="Coupon", id="c", messages=(
        Message("customer", "My coupon SAVE10 did not apply at checkout. Can you help?"),))
    first = list(draft(engine, ticket, Settings(), stop=StopFlag(), max_tokens=16))[-1]
    again = list(draft(engine, ticket, Settings(), stop=StopFlag(), max_tokens=16))[-1]
    assert first.reused_tokens < first.prompt_tokens - 1
    assert again.reused_tokens == again.prompt_tokens - 1


def test_a_corrupt_model_is_refused_before_llama_cpp_sees_it(tmp_path, small_model):
    cut = tmp_path / "cut.gguf"
    with open(small_model, "rb") as src, open(cut, "wb") as out:
        out.write(src.read(5_000_000))
    with pytest.raises(ModelError, match="truncated"):
        LlamaEngine().load(cut, Settings())
