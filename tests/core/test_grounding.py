from core.drafting import DraftNotes, DraftResult, draft
from core.engine import StopFlag
from core.kb.grounding import Source, cited_numbers, figures, unsupported_figures
from core.prompt import build_prompt
from core.settings import Settings
from core.tickets import Message, Ticket
from tests.fakes import FakeEngine

TICKET = Ticket(subject="Refund", id="r", messages=(
    Message("customer", "I returned order LM20261118-0423 ($129). When is my refund?"),))
SOURCES = [Source(1, "/kb/returns.md", "Card refunds take 5-10 business days.", "Refunds"),
           Source(2, "/kb/faq.csv#FAQ-3", "Gift cards never expire.")]


def count(messages):
    return sum(len(m.content) for m in messages)


def test_sources_are_numbered_in_the_data_turn_and_citing_is_asked():
    prompt = build_prompt(TICKET, Settings(), budget_tokens=4000, count_tokens=count,
                          sources=SOURCES)
    data, instruction = prompt.messages[1].content, prompt.messages[-1].content
    assert "[1] (returns.md › Refunds)\nCard refunds take 5-10 business days." in data
    assert "[2] (faq.csv#FAQ-3)" in data
    assert "square brackets" in instruction


def test_no_relevant_source_forbids_policy_and_says_so():
    prompt = build_prompt(TICKET, Settings(), budget_tokens=4000, count_tokens=count,
                          sources=[])
    assert "do not state any policy" in prompt.messages[-1].content
    without_kb = build_prompt(TICKET, Settings(), budget_tokens=4000, count_tokens=count)
    assert "knowledge base" not in without_kb.messages[-1].content
    engine = FakeEngine(reply="We will check.")
    engine.load("x", Settings())
    notes = next(iter(draft(engine, TICKET, Settings(), stop=StopFlag(), sources=[])))
    assert isinstance(notes, DraftNotes) and "No knowledge-base passage" in notes.notes[-1]


def test_citations_and_unsupported_figures_in_the_result():
    engine = FakeEngine(reply="Refunds take 5-10 business days [1]. We add a $15 fee and "
                              "reply within 48 hours. Your order LM20261118-0423 ($129).")
    engine.load("x", Settings())
    result = list(draft(engine, TICKET, Settings(), stop=StopFlag(), sources=SOURCES))[-1]
    assert isinstance(result, DraftResult)
    assert [c.number for c in result.citations] == [1]
    assert result.unsupported == ("$15", "48 hours")
    doc = result.to_json()
    assert doc["citations"] == [{"number": 1, "source": "/kb/returns.md",
                                 "text": "Card refunds take 5-10 business days."}]


def test_figure_extraction():
    assert cited_numbers("a [2] b 【1】 c [2] d [x]") == [2, 1]
    found = dict(figures("七天无理由退货，运费¥12，30 days, 15%, 2026-11-20 and 1 item"))
    assert found == {"七天": "7", "¥12": "12", "30 days": "30", "15%": "15",
                     "2026": "2026", "11": "11", "20": "20"}
    assert unsupported_figures("满99元包邮 [1]", [Source(1, "s", "订单满99元包邮。")],
                               TICKET) == []
    assert unsupported_figures("[tracking number] within 3 days", [], TICKET) == ["3 days"]


def test_uncited_use_of_a_passage_is_attributed():
    from core.kb.grounding import citations_for

    sources = [Source(1, "/kb/gift.md", "Lumen gift cards never expire and work on sale items."),
               Source(2, "/kb/ship.md", "Orders ship within two business days.")]
    draft_text = ("Thank you for asking! Lumen gift cards never expire, and they work on sale "
                  "items. Anything else?")
    assert [s.number for s in citations_for(draft_text, sources)] == [1]
    assert [s.number for s in citations_for("Orders ship fast [2]. Gift cards never expire "
                                             "on sale items.", sources)] == [2, 1]
    assert citations_for("We will check and get back to you.", sources) == []
