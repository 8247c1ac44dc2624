import json

import pytest

from core.errors import TicketError
from core.tickets import load_demo_tickets, load_ticket_file, ticket_from_dict


def write(tmp_path, doc, *, name="t.json", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False),
                    encoding=encoding)
    return path


def test_reads_ticket_with_bom(tmp_path):
    path = write(tmp_path, {"subject": "退货", "messages": [{"from": "customer",
                                                           "text": "我想退货"}]},
                 encoding="utf-8-sig")
    ticket = load_ticket_file(path)
    assert ticket.language == "zh"
    assert ticket.last_customer_text == "我想退货"


@pytest.mark.parametrize("doc, words", [
    ({"subject": "x", "messages": []}, "no customer message"),
    ({"subject": "x", "messages": [{"from": "customer", "text": "   "}]}, "no customer message"),
    ({"subject": "x"}, "'messages' must be a list"),
    ({"messages": [{"from": "robot", "text": "hi"}]}, "'from'"),
    ({"messages": [{"from": "customer", "text": 5}]}, "must be a string"),
    ([1, 2], "must be a JSON object"),
    ({"messages": [{"text": "hi"}], "lang": "fr"}, "'lang'"),
])
def test_bad_tickets_are_refused_clearly(doc, words):
    with pytest.raises(TicketError, match=words):
        ticket_from_dict(doc)


def test_not_json_and_not_utf8(tmp_path):
    with pytest.raises(TicketError, match="not valid JSON"):
        load_ticket_file(write(tmp_path, "{oops"))
    gbk = tmp_path / "gbk.json"
    gbk.write_bytes('{"messages": [{"text": "我想退货"}]}'.encode("gbk"))
    with pytest.raises(TicketError, match="not UTF-8"):
        load_ticket_file(gbk)
    with pytest.raises(TicketError, match="no such file"):
        load_ticket_file(tmp_path / "missing.json")


def test_demo_tickets_cover_both_languages():
    tickets = load_demo_tickets()
    assert len(tickets) >= 20
    langs = {t.language for t in tickets}
    assert {"en", "zh"} <= langs
    assert len({t.id for t in tickets}) == len(tickets)
    assert all(t.messages[-1].sender == "customer" for t in tickets)
