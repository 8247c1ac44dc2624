"""Measure the knowledge base: retrieval quality, indexing throughput, search latency.

    python bench/kb_bench.py retrieval [--embedder KEY] [--translate-with MODEL.gguf]
    python bench/kb_bench.py speed [--chunks 50000] [--json]

Retrieval: ../shared/eval/faq.jsonl indexed (question and answer of each entry) and
queried with faq_queries.jsonl; and the demo knowledge base (resources/demo/kb) queried
with bench/kb_queries/{en,zh,cross,cross2}.jsonl; with --translate-with MODEL.gguf, also
with each query translated by that model where the knowledge base wants it (as drafting
does).  Each in hybrid, vector-only and
keyword-only mode.  The evaluation data is read in place, never copied into the repo.
Results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.hardware import physical_cores  # noqa: E402
from core.kb.embedder import load_embedder  # noqa: E402
from core.kb.index import KnowledgeBase, SearchParams, params_for  # noqa: E402
from core.paths import Workspace  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
DEMO_KB = ROOT / "resources" / "demo" / "kb"
QUERIES = ROOT / "bench" / "kb_queries"
MODES = ("hybrid", "vector", "keyword")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def hits_at(kb: KnowledgeBase, queries: list[tuple[str, set[str]]], relative_to: Path,
            translations: dict[str, str] | None = None) -> dict:
    h1 = h3 = h5 = 0
    for query, expected in queries:
        translated = (translations or {}).get(query)
        results = [_rel(h.chunk.source, relative_to)
                   for h in kb.search(query, k=5, translated=translated)]
        h1 += bool(set(results[:1]) & expected)
        h3 += bool(set(results[:3]) & expected)
        h5 += bool(set(results[:5]) & expected)
    n = len(queries)
    return {"n": n, "hit@1": round(h1 / n, 3), "hit@3": round(h3 / n, 3),
            "hit@5": round(h5 / n, 3)}


def _rel(source: str, base: Path) -> str:
    path, _, row = source.partition("#")
    try:
        rel = Path(path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        rel = path
    return f"{rel}#{row}" if row else rel


DEMO_SETS = ("en", "zh", "cross", "cross2")


def translate_all(model: Path, kb: KnowledgeBase, queries: list[str]) -> tuple[dict, dict]:
    """Each query translated as drafting does it (core/kb/translate.py), where the demo
    knowledge base wants a translation; and the time it took."""
    from core.engine import LlamaEngine
    from core.kb.translate import translate_query
    from core.settings import Settings

    engine = LlamaEngine()
    engine.load(model, Settings())
    out: dict[str, str] = {}
    seconds = []
    try:
        for query in queries:
            target = kb.translation_target(query)
            if target and query not in out:
                t0 = time.perf_counter()
                out[query] = translate_query(engine, query, target) or ""
                seconds.append(time.perf_counter() - t0)
    finally:
        engine.unload()
    return out, {"model": model.name, "translated": len(seconds),
                 "usable": sum(bool(v) for v in out.values()),
                 "seconds_mean": round(statistics.mean(seconds), 2) if seconds else None,
                 "seconds_max": round(max(seconds), 2) if seconds else None}


def retrieval(embedder_key: str, translate_with: Path | None = None) -> dict:
    models_dir = Workspace.user_default().models_dir
    embedder = load_embedder(embedder_key, models_dir, threads=physical_cores())
    out: dict = {"embedder": embedder.name}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # FAQ eval set, written as an FAQ table in a temporary folder: once with the
        # question and answer of each entry only (the protocol), once as given
        # (its intent and category columns are labels the reader indexes too).
        rows = read_jsonl(EVAL / "faq.jsonl")
        faq_queries = [(q["query"], {f"faq.jsonl#{q['faq_id']}"})
                       for q in read_jsonl(EVAL / "faq_queries.jsonl")]
        for variant, keep in (("faq", ("faq_id", "question", "answer")), ("faq_as_given", None)):
            faq_dir = tmp / variant
            faq_dir.mkdir()
            (faq_dir / "faq.jsonl").write_text("\n".join(json.dumps(
                {k: v for k, v in r.items() if keep is None or k in keep},
                ensure_ascii=False) for r in rows), encoding="utf-8")
            kb = KnowledgeBase(tmp / f"kb-{variant}", embedder_factory=lambda: embedder)
            kb.add_paths([faq_dir])
            list(kb.sync())
            out[variant] = {}
            for mode in MODES:
                kb.params = unthresholded(embedder.name, mode)
                out[variant][mode] = hits_at(kb, faq_queries, faq_dir)
            kb.close()

        kb = KnowledgeBase(tmp / "kb-demo", embedder_factory=lambda: embedder)
        kb.add_paths([DEMO_KB])
        list(kb.sync())
        out["demo"] = {}
        for name in DEMO_SETS:
            queries = [(q["query"], set(q["expected"])) for q in read_jsonl(QUERIES /
                                                                           f"{name}.jsonl")]
            out["demo"][name] = {}
            for mode in MODES:
                kb.params = unthresholded(embedder.name, mode)
                out["demo"][name][mode] = hits_at(kb, queries, DEMO_KB)
        # With the shipped relevance thresholds (what users get).
        kb.params = params_for(embedder.name)
        sets = {name: [(q["query"], set(q["expected"])) for q in read_jsonl(
            QUERIES / f"{name}.jsonl")] for name in DEMO_SETS}
        out["demo_with_thresholds"] = {name: hits_at(kb, queries, DEMO_KB)
                                       for name, queries in sets.items()}
        if translate_with is not None:
            # What drafting does: the shipped search with the model's translation.
            translations, out["translation"] = translate_all(
                translate_with, kb, [q for queries in sets.values() for q, _ in queries])
            out["demo_translated_with_thresholds"] = {
                name: hits_at(kb, queries, DEMO_KB, translations)
                for name, queries in sets.items()}
            kb.params = unthresholded(embedder.name, "hybrid")
            out["demo_translated"] = {name: hits_at(kb, queries, DEMO_KB, translations)
                                      for name, queries in sets.items()}
        kb.close()
    return out


def unthresholded(name: str, mode: str) -> SearchParams:
    """The shipped parameters for this model, in ``mode``, with no relevance cut-off
    (so hit@k measures ranking alone)."""
    import dataclasses

    return dataclasses.replace(params_for(name), mode=mode, min_similarity=-1.0,
                               min_keyword=0.0)


def speed(n_chunks: int, embedder_key: str = "auto", isolated: bool = False) -> dict:
    """Indexing throughput against bare sentence-transformers on the same chunks, and
    search latency at ``n_chunks`` passages (query embedding included)."""
    import numpy as np

    from core.kb.chunking import chunk_document
    from core.kb.readers import read_document

    models_dir = Workspace.user_default().models_dir
    bare_model = load_embedder(embedder_key, models_dir, threads=physical_cores())
    if isolated:  # Kefu's side as the app runs it: the model in a child process
        from core.kb.isolated import ProcessEmbedder

        def fresh():  # closing a knowledge base stops its embedding process
            return ProcessEmbedder(embedder_key, models_dir, threads=physical_cores())
    else:
        def fresh():
            return bare_model
    embedder = fresh()
    chunks = []
    for path in sorted(DEMO_KB.rglob("*")):
        if path.is_file() and path.suffix in (".md", ".txt", ".csv"):
            chunks += chunk_document(read_document(path), path=str(path), content_hash="x")
    texts = [c.embed_text for c in chunks]
    out: dict = {"embedder": embedder.name, "demo_chunks": len(texts),
                 "embedder_process": "child" if isolated else "same"}

    # Both timings start warm: one batch first, so neither pays the first call's set-up.
    embedder.embed_passages(texts[:32])
    # Bare: each model's own encode() of the texts it embeds, one after the other.
    if getattr(bare_model, "split_at", None):
        bare_runs = [(bare_model.primary, texts),
                     (bare_model.secondary, [t for t in texts if bare_model.speaks(t)])]
    else:
        bare_runs = [(bare_model, texts)]
    bare_model.embed_passages(texts[:32])
    t0 = time.perf_counter()
    for model, some in bare_runs:
        model._model.encode([model.passage_prefix + t for t in some], batch_size=32,
                            normalize_embeddings=True, show_progress_bar=False)
    bare = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase(Path(tmp) / "kb", embedder_factory=lambda: embedder)
        kb.add_paths([DEMO_KB])
        t0 = time.perf_counter()
        list(kb.sync())
        indexed = time.perf_counter() - t0
        kb.close()
    out["bare_encode_chunks_per_s"] = round(len(texts) / bare, 1)
    out["kefu_index_chunks_per_s"] = round(len(texts) / indexed, 1)
    out["index_vs_bare"] = round(bare / indexed, 3)

    # A large index: synthetic passages (random vectors, varied words) stored through the
    # real chromadb; queries embed for real.
    rng = np.random.default_rng(7)
    words = ("refund return shipping parcel order invoice coupon warranty lamp kettle "
             "退货 退款 运费 发票 优惠券 保修 快递 订单 台灯 水壶").split()
    embedder = fresh()
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase(Path(tmp) / "kb", embedder_factory=lambda: embedder)
        from core.kb.chunking import Chunk
        batch = 2000
        t0 = time.perf_counter()
        with kb.manifest.transaction():
            kb.manifest.put_document("synthetic", content_hash="s", size=0, mtime=0,
                                     status="indexed", chunks=n_chunks)
        for start in range(0, n_chunks, batch):
            part = [Chunk(id=f"s{i}", source="synthetic", path="synthetic", ordinal=i,
                          text=" ".join(rng.choice(words, 12)), headings="", page=None,
                          row_id=None) for i in range(start, min(start + batch, n_chunks))]
            vectors = rng.normal(size=(len(part), embedder.dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            with kb.manifest.transaction():
                kb.manifest.add_chunks(part)
            kb.collection.upsert(ids=[c.id for c in part], embeddings=vectors,
                                 metadatas=[{"path": "synthetic", "source": "synthetic"}] *
                                 len(part))
        out["large_index_build_s"] = round(time.perf_counter() - t0, 1)
        kb.search("warm up")  # builds the keyword index once
        queries = ["我的退款什么时候到账", "where is my parcel", "发票怎么开",
                   "coupon did not apply", "台灯坏了可以换吗", "warranty for the kettle"] * 10
        times = []
        for q in queries:
            t0 = time.perf_counter()
            kb.search(q)
            times.append((time.perf_counter() - t0) * 1000)
        kb.close()
    times.sort()
    out["search_chunks"] = n_chunks
    out["search_ms_p50"] = round(statistics.median(times), 1)
    out["search_ms_p95"] = round(times[int(len(times) * 0.95) - 1], 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("retrieval")
    r.add_argument("--embedder", default="auto")
    r.add_argument("--translate-with", type=Path, metavar="MODEL.gguf",
                   help="also search the demo sets with each query translated by this model, "
                        "as drafting does when the knowledge base holds both languages")
    s = sub.add_parser("speed")
    s.add_argument("--chunks", type=int, default=50000)
    s.add_argument("--embedder", default="auto")
    s.add_argument("--isolated", action="store_true",
                   help="Kefu's side with the model in a child process, as in the app")
    args = parser.parse_args()
    result = retrieval(args.embedder, args.translate_with) if args.what == "retrieval" else speed(
        args.chunks, args.embedder, args.isolated)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
