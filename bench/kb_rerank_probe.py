"""Probe: does the drafting model, reranking the hybrid top 5, lift FAQ hit@1?

    python bench/kb_rerank_probe.py MODEL.gguf [N_QUERIES]

The FAQ set indexed strictly (question and answer), the shipped hybrid search without a
threshold, then one forward pass of the model over the query and the five passages
(220-character excerpts); its most likely option number ([1]-[5]) is its pick.  A
negative result is recorded in docs/benchmarks.md; nothing in the product uses this.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from kb_bench import EVAL, _rel, read_jsonl, unthresholded  # noqa: E402

from core.kb.embedder import load_embedder  # noqa: E402
from core.kb.index import KnowledgeBase  # noqa: E402
from core.paths import Workspace  # noqa: E402


def excerpt(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def main() -> int:
    import llama_cpp

    model = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    embedder = load_embedder("auto", Workspace.user_default().models_dir, threads=2)
    rows = read_jsonl(EVAL / "faq.jsonl")
    queries = read_jsonl(EVAL / "faq_queries.jsonl")[:limit]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "faq"
        folder.mkdir()
        (folder / "faq.jsonl").write_text("\n".join(json.dumps(
            {k: r[k] for k in ("faq_id", "question", "answer")}) for r in rows))
        kb = KnowledgeBase(Path(tmp) / "kb", embedder_factory=lambda: embedder)
        kb.add_paths([folder])
        list(kb.sync())
        kb.params = unthresholded(embedder.name, "hybrid")
        llm = llama_cpp.Llama(model, n_ctx=2048, n_threads=2, n_batch=512, verbose=False)
        digits = [llm.tokenize(str(i).encode(), add_bos=False, special=False)[0]
                  for i in range(1, 6)]
        hybrid = reranked = 0
        spent, tokens = 0.0, 0
        for q in queries:
            hits = kb.search(q["query"], k=5)
            ids = [_rel(h.chunk.source, folder).split("#")[1] for h in hits]
            options = "\n".join(f"[{i + 1}] {excerpt(h.chunk.text)}" for i, h in enumerate(hits))
            prompt = ("<|im_start|>system\nYou match a customer's message to the knowledge-base "
                      "passage that answers it.<|im_end|>\n<|im_start|>user\nCustomer message: "
                      f"{q['query']}\n\nPassages:\n{options}\n\nWhich passage answers the "
                      "customer's message best? Reply with its number only.<|im_end|>\n"
                      "<|im_start|>assistant\n[")
            ids_in = llm.tokenize(prompt.encode(), add_bos=False, special=True)
            started = time.perf_counter()
            llm.reset()
            llm.eval(ids_in)
            logits = np.array(llm.scores[llm.n_tokens - 1])
            spent += time.perf_counter() - started
            tokens += len(ids_in)
            pick = int(np.argmax(logits[digits][:len(ids)]))
            hybrid += ids[0] == q["faq_id"]
            reranked += ids[pick] == q["faq_id"]
        kb.close()
    n = len(queries)
    print(f"n={n} hybrid hit@1={hybrid / n:.3f} reranked hit@1={reranked / n:.3f} "
          f"mean {spent / n:.2f}s/query, {tokens / n:.0f} prompt tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
