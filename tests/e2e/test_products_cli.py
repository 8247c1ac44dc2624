"""`kefu products import`, `kefu orders import` and `kefu recommend` through the real CLI,
with the real multilingual embedding model and the real analyser deciding the mood."""

from __future__ import annotations

import json

import pytest

from tests.catalogfixtures import write_catalog
from tests.e2e.conftest import run_kefu, write_ticket
from tests.e2e.test_kb_cli import workspace

pytestmark = pytest.mark.model


def kefu_json(ws, *args):
    done = run_kefu(*args, "--json", workspace=ws)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def shop(tmp_path, e5_model):
    ws = workspace(tmp_path, e5_model)
    products, orders = write_catalog(tmp_path / "in")
    first = kefu_json(ws, "products", "import", str(products), "--currency", "USD")
    assert (first["format"], first["imported"], first["skipped"]) == ("shopify", 12, [])
    again = kefu_json(ws, "products", "import", str(products), "--currency", "USD")
    assert (again["imported"], again["updated"], again["unchanged"]) == (0, 0, 12)
    history = kefu_json(ws, "orders", "import", str(orders))
    assert (history["imported"], history["skipped"]) == (9, [])
    assert any("name no product" in w for w in history["warnings"])
    return ws


def recommend(ws, tmp_path, text, *, email="ana@example.com", lang="en", k=3):
    ticket = write_ticket(tmp_path / "ticket.json", {
        "subject": "", "lang": lang, "customer": {"email": email},
        "messages": [{"from": "customer", "text": text}]})
    return kefu_json(ws, "recommend", "--ticket", str(ticket), "--k", str(k))


def test_questions_in_english_and_chinese_find_the_product(shop, tmp_path):
    result = recommend(shop, tmp_path, "Hi, do you sell an electric kettle with auto "
                                       "shut-off? Which one would you recommend?")
    assert result["mood"]["escalation"] is False
    top = result["products"][0]
    assert set(top) >= {"handle", "title", "price", "reason", "score"}
    assert top["handle"] in ("harbor-kettle", "glass-kettle")
    assert top["price"] in (59.0, 49.0) and top["currency"] == "USD" and top["reason"]
    assert top["price_text"] in ("$59.00", "$49.00")
    assert [o["number"] for o in result["history"]] == ["LM1002", "LM1001"]
    # A Chinese question, an English catalog: found by meaning, not by words.
    zh = recommend(shop, tmp_path, "你好，你们有自动断电的电热水壶吗？想买一个，推荐哪款？",
                   lang="zh", email="new@example.com")
    assert zh["products"] and zh["products"][0]["handle"] in ("harbor-kettle", "glass-kettle")


def test_an_angry_chargeback_threat_gets_none(shop, tmp_path):
    result = recommend(shop, tmp_path, "This is the third time I write. Refund my money today "
                                       "or I will file a chargeback with my bank and report "
                                       "you. Worst service ever.")
    assert result["mood"]["sentiment"] in ("negative", "very_negative")
    assert result["products"] == [] and result["withheld"]


def test_a_ticket_in_the_store_by_id(shop, tmp_path):
    export = tmp_path / "export.json"
    export.write_text(json.dumps([{
        "id": "T-1", "subject": "Pajamas exchange", "requester": "ana@example.com",
        "messages": [{"from": "ana@example.com", "text":
                      "Could I exchange my pajama set for Large in Forest Green Plaid? "
                      "The Navy Plaid one I got is too small.",
                      "date": "2026-11-20T10:00:00Z"}]}]), encoding="utf-8")
    imported = run_kefu("tickets", "import", str(export), workspace=shop)
    assert imported.returncode == 0, imported.stderr
    listed = kefu_json(shop, "tickets", "list")
    result = kefu_json(shop, "recommend", "--ticket-id", str(listed[0]["id"]))
    top = result["products"][0]
    assert (top["handle"], top["variant"]) == ("flannel-pajamas", "Large / Forest Green Plaid")


def test_bad_files_are_clear_errors(shop, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Cost\nMug,3\n", encoding="utf-8")
    done = run_kefu("products", "import", str(bad), workspace=shop)
    assert done.returncode == 1
    assert "required columns missing" in done.stderr and "title" in done.stderr
    assert "Traceback" not in done.stderr
    mapped = kefu_json(shop, "products", "import", str(bad), "--map", "title=Name",
                       "--map", "price=Cost", "--map", "sku=Name")
    assert mapped["imported"] == 1
    missing = run_kefu("orders", "import", str(tmp_path / "nope.csv"), workspace=shop)
    assert missing.returncode == 1 and "cannot be read" in missing.stderr
