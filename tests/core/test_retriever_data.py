"""The knowledge base's English model is fine-tuned at setup from resources/retrieval
(scripts/train_retriever.py): the data must hold what the script expects, and setup
must see when the model it made is out of date."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import train_retriever  # noqa: E402

OPTIONS = {"epochs": 2, "lr": 1e-4, "max_seq": 128, "frozen": 0, "first_topics": 0}


def test_every_file_holds_well_formed_topics_and_no_message_teaches_two():
    seen: dict[str, str] = {}
    files = sorted(train_retriever.DATA.glob("*.jsonl"))
    assert [p.name for p in files if p.name.startswith("topics_")] == \
        ["topics_1.jsonl", "topics_2.jsonl"]
    ids = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            topic = json.loads(line)
            assert re.fullmatch(r"[a-z_]+", topic["topic"])
            if path.name.startswith("topics_"):
                ids.append(topic["topic"])
                assert len(topic["faq"]) == 3
            assert topic["faq"] and len(topic["messages"]) == 24, (path.name, topic["topic"])
            for entry in topic["faq"]:
                assert entry["title"].strip()
                assert 40 <= len(entry["answer"].split()) <= 130, topic["topic"]
            for message in topic["messages"]:
                key = message.strip().lower()
                assert key, topic["topic"]
                assert seen.setdefault(key, topic["topic"]) == topic["topic"], message
    assert len(ids) == len(set(ids)) == 45
    merged = train_retriever.load_topics()
    assert [t["topic"] for t in merged] == ids
    assert all(len(t["messages"]) >= 24 and len(t["messages"]) % 24 == 0 for t in merged)


def test_an_faq_entry_is_embedded_as_the_knowledge_base_embeds_a_row(tmp_path):
    """Training pairs a message with an entry's text as the index will embed a row of an
    FAQ table: its question with its answer, or its question alone."""
    from core.kb.chunking import chunk_document
    from core.kb.readers import read_document

    entry = {"title": "Where is my refund?", "answer": "Refunds take five days."}
    faq = tmp_path / "faq.jsonl"
    faq.write_text(json.dumps({"question": entry["title"], "answer": entry["answer"]}),
                   encoding="utf-8")
    chunks = chunk_document(read_document(faq), path=str(faq), content_hash="x")
    embedded = {c.embed_text for c in chunks}
    assert train_retriever.entry_text(entry, title_alone=False) in embedded
    assert train_retriever.entry_text(entry, title_alone=True) in embedded


def test_setup_retrains_when_the_data_or_the_options_change(tmp_path, monkeypatch):
    data = tmp_path / "retrieval"
    data.mkdir()
    (data / "topics_1.jsonl").write_text('{"topic": "a"}\n', encoding="utf-8")
    monkeypatch.setattr(train_retriever, "DATA", data)
    out = tmp_path / "model"
    assert not train_retriever.up_to_date(out, OPTIONS)          # nothing there
    out.mkdir()
    (out / "modules.json").write_text("[]", encoding="utf-8")
    (out / train_retriever.MANIFEST).write_text(json.dumps(
        {"fingerprint": train_retriever.fingerprint(OPTIONS)}), encoding="utf-8")
    assert train_retriever.up_to_date(out, OPTIONS)
    assert not train_retriever.up_to_date(out, {**OPTIONS, "epochs": 5})
    (data / "topics_1.jsonl").write_text('{"topic": "b"}\n', encoding="utf-8")
    assert not train_retriever.up_to_date(out, OPTIONS)


def test_more_data_extends_its_topics_and_a_stray_or_doubled_topic_is_refused(tmp_path):
    row = {"topic": "a", "faq": [{"title": "t", "answer": "x"}], "messages": ["m1"]}
    (tmp_path / "topics_1.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    (tmp_path / "more_1.jsonl").write_text(json.dumps({**row, "messages": ["m2"]}) + "\n",
                                           encoding="utf-8")
    [topic] = train_retriever.load_topics(tmp_path)
    assert topic["messages"] == ["m1", "m2"] and len(topic["faq"]) == 2
    (tmp_path / "more_2.jsonl").write_text(json.dumps({**row, "topic": "b"}) + "\n",
                                           encoding="utf-8")
    with pytest.raises(SystemExit, match="in no topics file"):
        train_retriever.load_topics(tmp_path)
    (tmp_path / "more_2.jsonl").unlink()
    (tmp_path / "topics_2.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="twice"):
        train_retriever.load_topics(tmp_path)
