"""A real draft, grounded in a passage the test planted, cites it."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import run_kefu, write_ticket
from tests.e2e.test_kb_cli import workspace

pytestmark = [pytest.mark.model, pytest.mark.default_model]


def test_draft_cites_the_planted_passage(tmp_path, e5_model, default_model):
    ws = workspace(tmp_path, e5_model)
    folder = tmp_path / "kbdocs"
    folder.mkdir()
    (folder / "giftcards.md").write_text(
        "# Gift cards\nLumen gift cards never expire. They can be used on every product in "
        "the store, including sale items.", encoding="utf-8")
    (folder / "shipping.md").write_text("# Shipping\nOrders ship within two business days.",
                                        encoding="utf-8")
    assert run_kefu("kb", "add", str(folder), workspace=ws).returncode == 0
    ticket = write_ticket(tmp_path / "t.json", {"subject": "Gift card question", "messages": [
        {"from": "customer", "text": "Hi, my aunt gave me a Lumen gift card two years ago. "
                                     "Does it expire? Can I use it on sale items?"}]})
    result = run_kefu("draft", "--ticket", str(ticket), "--json", "--max-tokens", "100",
                      "--seed", "3", "--model", str(default_model), workspace=ws)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert [c["source"].rsplit("/", 1)[-1] for c in out["citations"]] == ["giftcards.md"]
    assert "never expire" in out["citations"][0]["text"]
    assert "expire" in out["text"].lower()


def test_nothing_relevant_means_no_policy_and_a_note(tmp_path, e5_model, small_model):
    ws = workspace(tmp_path, e5_model)
    folder = tmp_path / "kbdocs"
    folder.mkdir()
    (folder / "shipping.md").write_text("# Shipping\nOrders ship within two business days.",
                                        encoding="utf-8")
    run_kefu("kb", "add", str(folder), workspace=ws)
    ticket = write_ticket(tmp_path / "t.json", {"subject": "Karaoke", "messages": [
        {"from": "customer", "text": "Do you rent karaoke machines for weddings?"}]})
    result = run_kefu("draft", "--ticket", str(ticket), "--json", "--max-tokens", "40",
                      "--model", str(small_model), workspace=ws)
    out = json.loads(result.stdout)
    assert out["citations"] == []
    assert any("No knowledge-base passage matched" in n for n in out["notes"])
