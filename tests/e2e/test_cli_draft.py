"""End-to-end: the real CLI drafts with the real models."""

from __future__ import annotations

import json

import pytest

from core.lang import detect_language
from tests.e2e.conftest import run_kefu, write_ticket

EN_TICKET = {"subject": "Broken lamp", "messages": [
    {"from": "customer", "text": "Hello, the desk lamp I ordered (order LM20261118-0423) "
                                 "arrived with a cracked shade. Can you send a replacement?"}]}
ZH_TICKET = {"subject": "台灯坏了", "messages": [
    {"from": "customer", "text": "你好，我买的台灯（订单号 LM20261118-0423）收到的时候灯罩裂了。"},
    {"from": "agent", "text": "非常抱歉给您带来不便！请问可以拍一张照片发给我们吗？"},
    {"from": "customer", "text": "照片已经发给你们了。请问可以换一个新的吗？多久能寄出？"}]}


def test_english_ticket_gets_an_english_draft(tmp_path, small_model):
    ticket = write_ticket(tmp_path / "en.json", EN_TICKET)
    result = run_kefu("draft", "--ticket", str(ticket), "--json", "--max-tokens", "80",
                      "--seed", "7", "--model", str(small_model), workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) >= {"text", "lang", "tokens", "seconds", "model"}
    assert out["lang"] == "en" and out["tokens"] > 0 and out["seconds"] > 0
    assert len(out["text"].split()) >= 5
    assert detect_language(out["text"]) == "en"


@pytest.mark.default_model
def test_chinese_ticket_gets_a_chinese_draft(tmp_path, default_model):
    ticket = write_ticket(tmp_path / "zh.json", ZH_TICKET)
    result = run_kefu("draft", "--ticket", str(ticket), "--json", "--max-tokens", "120",
                      "--seed", "7", "--model", str(default_model), workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["lang"] == "zh"
    assert len(out["text"]) >= 10
    assert detect_language(out["text"]) == "zh", out["text"]


def test_streaming_output_and_demo_ticket(tmp_path, small_model):
    result = run_kefu("draft", "--demo", "2", "--max-tokens", "40", "--seed", "1",
                      "--model", str(small_model), workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "tokens in" in result.stderr


def test_a_draft_makes_no_network_connection(tmp_path, small_model):
    ticket = write_ticket(tmp_path / "en.json", EN_TICKET)
    report = tmp_path / "net.json"
    result = run_kefu("draft", "--ticket", str(ticket), "--json", "--max-tokens", "30",
                      "--model", str(small_model), workspace=tmp_path / "ws", guard=report)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["text"]
    assert json.loads(report.read_text()) == []


def test_the_guard_does_catch_a_connection(tmp_path):
    """The guard itself must be able to fail: a command that connects out is recorded."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    report = tmp_path / "net.json"
    code = ("import runpy, sys; sys.argv = ['netguard', %r]; "
            "g = runpy.run_path(%r, run_name='guard'); import socket\n"
            "try:\n    socket.create_connection(('192.0.2.1', 443), timeout=1)\n"
            "except OSError:\n    pass\ng['_write']()\n") % (
        str(report), str(ROOT / "tests" / "e2e" / "netguard.py"))
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert json.loads(report.read_text()) == ["connect ('192.0.2.1', 443)"]


def test_long_thread_and_giant_ticket_are_trimmed_not_crashed(tmp_path, small_model):
    huge = {"subject": "Long", "messages": [
        {"from": "customer", "text": "Where is my order? " + "Details. " * 25000 +
                                     " Please answer soon 😀 谢谢"}]}
    assert len(huge["messages"][0]["text"]) > 200000
    ticket = write_ticket(tmp_path / "huge.json", huge)
    result = run_kefu("draft", "--ticket", str(ticket), "--json", "--max-tokens", "20",
                      "--model", str(small_model), workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["notes"] and "characters" in out["notes"][0]
    assert "note:" in result.stderr


@pytest.mark.parametrize("doc, words", [
    ({"subject": "empty", "messages": []}, "no customer message"),
    ({"subject": "blank", "messages": [{"from": "customer", "text": "  "}]}, "no customer"),
])
def test_empty_ticket_is_a_clear_error(tmp_path, small_model, doc, words):
    ticket = write_ticket(tmp_path / "t.json", doc)
    result = run_kefu("draft", "--ticket", str(ticket), "--model", str(small_model),
                      workspace=tmp_path / "ws")
    assert result.returncode == 1
    assert result.stderr.startswith("kefu: error:") and words in result.stderr
    assert "Traceback" not in result.stderr
