import pytest

from core.drafting import DraftNotes, DraftResult, draft
from core.engine import PromptProgress, StopFlag, TokenDelta
from core.errors import EngineNotLoadedError
from core.settings import Settings
from core.tickets import Message, Ticket
from tests.fakes import FakeEngine

TICKET = Ticket(subject="Late", messages=(Message("customer", "Where is my parcel?"),), id="a")


def loaded(**kw):
    engine = FakeEngine(**kw)
    engine.load("fake.gguf", Settings())
    return engine


def test_events_in_order_and_result():
    engine = loaded(reply="Sorry for the wait.")
    events = list(draft(engine, TICKET, Settings(), stop=StopFlag()))
    assert isinstance(events[0], DraftNotes)
    assert any(isinstance(e, PromptProgress) for e in events)
    text = "".join(e.text for e in events if isinstance(e, TokenDelta))
    result = events[-1]
    assert isinstance(result, DraftResult)
    assert result.text == text == "Sorry for the wait."
    assert result.lang == "en" and result.stop_reason == "stop"
    assert set(result.to_json()) >= {"text", "lang", "tokens", "seconds", "model"}


def test_regenerate_reuses_the_prompt_prefix():
    engine = loaded()
    list(draft(engine, TICKET, Settings(), stop=StopFlag()))
    first = engine.evaluated_tokens
    events = list(draft(engine, TICKET, Settings(), stop=StopFlag()))
    assert engine.evaluated_tokens - first <= 1
    assert events[-1].reused_tokens == events[-1].prompt_tokens - 1


def test_stop_during_prompt_reading_ends_before_any_token():
    engine = loaded(batch=8)
    stop = StopFlag()
    out = []
    for event in draft(engine, TICKET, Settings(), stop=stop):
        out.append(event)
        if isinstance(event, PromptProgress) and event.done > 0:
            stop.set()
    assert not any(isinstance(e, TokenDelta) for e in out)
    assert out[-1].stop_reason == "cancelled"


def test_stop_during_generation_ends_within_one_token():
    engine = loaded(reply="abcdefghijklmnop")
    stop = StopFlag()
    tokens = 0
    for event in draft(engine, TICKET, Settings(), stop=stop):
        if isinstance(event, TokenDelta):
            tokens += 1
            if tokens == 3:
                stop.set()
    assert tokens == 3
    assert event.stop_reason == "cancelled" and event.text == "abc"


def test_thread_longer_than_context_is_trimmed_and_fits():
    long_ticket = Ticket(subject="x", id="b", messages=tuple(
        Message("customer" if i % 2 == 0 else "agent", f"turn {i} " + "y" * 900)
        for i in range(11)))
    engine = loaded(n_ctx=4096)
    events = list(draft(engine, long_ticket, Settings().replace(max_tokens=400),
                        stop=StopFlag()))
    assert events[0].notes and "oldest" in events[0].notes[0]
    assert events[-1].notes == events[0].notes
    assert events[-1].stop_reason == "stop"


def test_drafting_needs_a_loaded_model():
    with pytest.raises(EngineNotLoadedError):
        list(draft(FakeEngine(), TICKET, Settings(), stop=StopFlag()))


def test_fence_markers_the_model_copies_are_removed_across_chunks():
    from core.drafting import MarkerFilter

    f = MarkerFilter()
    pieces = ["\n<thr", "ead>\nDear Ann,", " thanks <", "/thread", ">. Bye <3", ""]
    out = "".join(f.feed(p) for p in pieces) + f.flush()
    assert out == "Dear Ann, thanks . Bye <3"
    engine = loaded(reply="<thread>Hi</thread>")
    events = list(draft(engine, TICKET, Settings(), stop=StopFlag()))
    assert events[-1].text == "Hi"
    assert "".join(e.text for e in events if isinstance(e, TokenDelta)) == "Hi"
