"""The index with the real chromadb: incremental, resumable, consistent, searchable."""

from __future__ import annotations

import pytest

from core.engine import StopFlag
from core.kb.index import IndexProgress, IndexSummary, KnowledgeBase, SearchParams
from tests.kbfixtures import FakeEmbedder

DOCS = {
    "returns.md": "# Returns\n## Refunds\nCard refunds take 5-10 business days after we "
                  "receive the parcel.\n## Exchanges\nExchanges are free within 30 days.",
    "shipping.md": "# Shipping\nOrders ship within 2 business days. Tracking numbers are "
                   "emailed when the parcel leaves the warehouse.",
    "manual.md": "# AF-45 air fryer\n## Error codes\nE3 means the temperature sensor failed; "
                 "unplug the fryer and contact support.",
    "退货.txt": "一、退货政策\n七天无理由退货，商品需保持完好。退货运费由买家承担。",
}


def make_docs(folder, docs=DOCS):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def run(kb, stop=None) -> IndexSummary:
    events = list(kb.sync(stop=stop))
    assert all(isinstance(e, IndexProgress) for e in events[:-1])
    return events[-1]


def consistent(kb) -> None:
    """Every chunk id in the manifest is in chromadb and nothing else is."""
    stored = set(kb.collection.get(include=[])["ids"])
    planned = {cid for d in kb.documents() for cid in kb.manifest.chunk_ids(d.path)}
    assert stored == planned
    assert kb.collection.count() == kb.manifest.count_chunks()


@pytest.fixture
def kb(tmp_path):
    embedder = FakeEmbedder()
    base = KnowledgeBase(tmp_path / "kb", embedder_factory=lambda: embedder,
                         params=SearchParams(min_similarity=0.3))
    yield base
    base.close()


def test_incremental_add_skip_update_remove(kb, tmp_path):
    folder = make_docs(tmp_path / "docs")
    kb.add_paths([folder])
    first = run(kb)
    assert len(first.added) == 4 and not first.skipped and first.chunks >= 5
    consistent(kb)

    again = run(kb)
    assert again.unchanged == 4 and not again.added and again.embedded_chunks == 0

    (folder / "shipping.md").write_text("# Shipping\nOrders now ship the same day.", "utf-8")
    (folder / "manual.md").unlink()
    (folder / "copy.md").write_text(DOCS["returns.md"], encoding="utf-8")
    third = run(kb)
    assert [p.rsplit("/", 1)[-1] for p in third.updated] == ["shipping.md"]
    assert [p.rsplit("/", 1)[-1] for p in third.removed] == ["manual.md"]
    assert any("identical to" in reason for _, reason in third.skipped)
    consistent(kb)
    texts = [h.chunk.text for h in kb.search("when do orders ship")]
    assert texts and "same day" in texts[0]
    assert not kb.search("E3 temperature sensor")


def test_bad_files_are_listed_with_reasons_and_index_stays_consistent(kb, tmp_path):
    folder = make_docs(tmp_path / "docs")
    (folder / "empty.md").write_text("", encoding="utf-8")
    (folder / "bin.txt").write_bytes(bytes(range(256)) * 20)
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4 broken")
    kb.add_paths([folder])
    summary = run(kb)
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in summary.skipped}
    assert set(reasons) == {"empty.md", "bin.txt", "scan.pdf"}
    assert "empty" in reasons["empty.md"] and "binary" in reasons["bin.txt"]
    statuses = {d.path.rsplit("/", 1)[-1]: d.status for d in kb.documents()}
    assert statuses["scan.pdf"] == "skipped" and statuses["returns.md"] == "indexed"
    consistent(kb)


def test_a_crash_mid_document_resumes_without_duplicates_or_orphans(tmp_path):
    folder = make_docs(tmp_path / "docs", {
        f"doc{i}.md": "# Doc\n" + f"Sentence number {i} about refunds. " * 120
        for i in range(6)})
    crashing = FakeEmbedder(fail_after=4)
    kb = KnowledgeBase(tmp_path / "kb", embedder_factory=lambda: crashing)
    kb.add_paths([folder])
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(kb)
    half = [d for d in kb.documents() if d.status == "indexing"]
    assert len(half) == 1  # the document being embedded when it died
    kb.close()

    resumed = KnowledgeBase(tmp_path / "kb", embedder_factory=FakeEmbedder)
    summary = run(resumed)
    assert summary.unchanged + len(summary.added) == 6
    assert all(d.status == "indexed" for d in resumed.documents())
    consistent(resumed)
    resumed.close()


def test_cancel_stops_between_batches_and_the_next_run_finishes(kb, tmp_path):
    folder = make_docs(tmp_path / "docs", {
        f"doc{i}.md": "# Doc\n" + f"Line {i} about shipping times. " * 200 for i in range(4)})
    kb.add_paths([folder])
    stop = StopFlag()
    summary = None
    for event in kb.sync(stop=stop):
        if isinstance(event, IndexProgress) and event.done == 1:
            stop.set()
        summary = event
    assert summary.cancelled and len(summary.added) < 4
    assert kb.outdated() == 0     # what is indexed is searchable: nothing to redo unasked
    final = run(kb)
    assert not final.cancelled
    assert all(d.status == "indexed" for d in kb.documents())
    consistent(kb)


def test_rebuild_and_remove_folder(kb, tmp_path):
    folder = make_docs(tmp_path / "docs")
    kb.add_paths([folder])
    run(kb)
    rebuilt = list(kb.rebuild())[-1]
    assert len(rebuilt.added) == 4
    consistent(kb)
    kb.remove_path(folder)
    gone = run(kb)
    assert len(gone.removed) == 4 and kb.collection.count() == 0


def test_keyword_search_finds_exact_codes_and_chinese(kb, tmp_path):
    kb.add_paths([make_docs(tmp_path / "docs")])
    run(kb)
    hit = kb.search("AF-45 shows E3")[0]
    assert "temperature sensor" in hit.chunk.text and hit.keyword > 0.5
    assert hit.chunk.headings == "AF-45 air fryer > Error codes"
    zh = kb.search("退货运费谁出")
    assert zh and "买家承担" in zh[0].chunk.text
    assert kb.search("") == []
    assert kb.search("zebra crossing at midnight") == []


class SynonymEmbedder(FakeEmbedder):
    """A second fake model that knows one paraphrase: "rebate" means "refund"."""

    name = "fake-synonyms"

    def _vector(self, text):
        return super()._vector(text.lower().replace("rebate", "refund"))


def test_paired_embedder_splits_fuses_and_ignores_the_english_model_for_chinese(tmp_path):
    import numpy as np

    from core.kb.embedder import PairedEmbedder, split_similarities

    paired = PairedEmbedder(FakeEmbedder(), SynonymEmbedder())
    assert paired.dimension == 128 and paired.split_at == 64
    vectors = paired.embed_passages(["Card refund in 5 days.", "退货运费由买家承担。"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.linalg.norm(vectors[0, 64:]) > 0 and np.linalg.norm(vectors[1, 64:]) == 0

    first, second = split_similarities(paired.embed_query("card rebate"), vectors, 64)
    assert second is not None and second[0] > first[0] > 0 and second[1] == 0
    first, second = split_similarities(paired.embed_query("退货运费"), vectors, 64)
    assert second is None and first[1] > first[0]

    docs = make_docs(tmp_path / "docs", {
        "refund.md": "Refund.",
        "exchange.md": "An exchange swaps the item for another colour or size within "
                       "thirty days.",
        "退货.txt": "退货运费由买家承担。"})
    params = SearchParams(min_similarity=-1.0, keyword_weight=0.0, secondary_weight=1.0)
    ranked = {}
    for name, embedder in (("single", FakeEmbedder()), ("paired", paired)):
        kb = KnowledgeBase(tmp_path / name, embedder_factory=lambda e=embedder: e,
                           params=params)
        kb.add_paths([docs])
        run(kb)
        ranked[name] = [h.chunk.source.rsplit("/", 1)[-1]
                        for h in kb.search("rebate item", k=3)]
        if name == "paired":
            hit = kb.search("rebate item", k=1)[0]
            assert hit.score > hit.similarity     # the second model's vote was added
            assert kb.search("退货运费谁承担", k=1)[0].chunk.source.endswith("退货.txt")
        kb.close()
    # Only the second model knows the paraphrase; its vote puts the refund passage first.
    assert ranked["single"][0] == "exchange.md"
    assert ranked["paired"][0] == "refund.md"
    assert paired._pool is None  # closed with the knowledge base


def test_a_changed_embedding_model_marks_every_document_outdated_until_synced(tmp_path):
    docs = make_docs(tmp_path / "docs")
    first = KnowledgeBase(tmp_path / "kb", embedder_factory=FakeEmbedder,
                          params=SearchParams(min_similarity=0.3))
    first.add_paths([docs])
    run(first)
    assert first.outdated() == 0
    assert first.search("AF-45 shows E3")
    first.close()
    # The same folder opened with another model: its vectors are not comparable, so the
    # index has nothing to search until the next sync, and says so.
    second = KnowledgeBase(tmp_path / "kb", embedder_factory=SynonymEmbedder,
                           params=SearchParams(min_similarity=0.3))
    assert second.outdated() == len(DOCS)
    assert all(d.outdated for d in second.documents())
    assert second.search("AF-45 shows E3") == []
    summary = run(second)
    assert sorted(p.rsplit("/", 1)[-1] for p in summary.updated) == sorted(DOCS)
    assert second.outdated() == 0 and not any(d.outdated for d in second.documents())
    assert "temperature sensor" in second.search("AF-45 shows E3")[0].chunk.text
    consistent(second)
    second.close()


def test_missing_or_orphan_vectors_are_repaired_by_the_next_sync(kb, tmp_path):
    import numpy as np

    kb.add_paths([make_docs(tmp_path / "docs")])
    run(kb)
    damaged = next(d.path for d in kb.documents() if d.path.endswith("manual.md"))
    kb.collection.delete(ids=kb.manifest.chunk_ids(damaged))  # lost (a damaged folder)
    kb._forget_caches()
    assert kb.outdated() == 1
    summary = run(kb)
    assert summary.updated == [damaged]
    assert kb.outdated() == 0
    consistent(kb)
    assert "temperature sensor" in kb.search("AF-45 shows E3")[0].chunk.text
    kb.collection.add(ids=["orphan"], embeddings=np.ones((1, 64), dtype=np.float32))
    assert kb.outdated() == 0     # harmless to a search; the next sync deletes it
    summary = run(kb)
    assert summary.updated == [] and kb.outdated() == 0
    consistent(kb)
