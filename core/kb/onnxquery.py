"""Query embeddings through ONNX Runtime: the same model, half the time.

A search embeds one short query, where PyTorch's per-layer overhead is most of the cost
(about 25 ms for multilingual-e5-small on one core, against the 50 ms a whole search may
take).  Setup exports each sentence-transformers model's transformer to ONNX once
(``export``, with eager attention, so the graph is the model's own arithmetic) and checks
the result against sentence-transformers on mixed Chinese and English texts; queries then
run through ONNX Runtime (already installed with chromadb) with the model's own tokenizer
file and pooling.  Passages are still embedded by sentence-transformers.

An export records a fingerprint of the model files it came from; a model that changed
since (or an export that is missing) simply means queries use PyTorch, with a log line.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from core.errors import EmbedderError

log = logging.getLogger("kefu.kb.onnx")

MANIFEST = "kefu-onnx.json"
CHECK_TEXTS = ("how long does a refund take to reach my card?", "我的发票找不到了，能帮我查一下吗",
               "AF-45 error E3", "退貨運費由誰承擔？")
MIN_COSINE = 0.9999


def fingerprint(model_folder: Path) -> str:
    """Names, sizes and contents of the config and tokenizer files, and 256 samples of
    4 KB spread over each weight file: cheap (a megabyte read per file), and it changes
    when the weights do, even for a fine-tuned copy of the same model, whose files have
    the same sizes (setup fine-tunes one: scripts/train_retriever.py)."""
    digest = hashlib.sha256()
    for path in sorted(model_folder.rglob("*")):
        if not (path.is_file() and path.suffix in (".safetensors", ".bin", ".json", ".txt",
                                                   ".model")):
            continue
        size = path.stat().st_size
        digest.update(f"{path.relative_to(model_folder)}\0{size}\n".encode())
        with path.open("rb") as stream:
            if size <= _WHOLE:
                digest.update(stream.read())
                continue
            for n in range(_SAMPLES):
                stream.seek(n * (size - _SAMPLE) // (_SAMPLES - 1))
                digest.update(stream.read(_SAMPLE))
    return digest.hexdigest()


_WHOLE = 1 << 20      # files up to this size are read whole
_SAMPLES, _SAMPLE = 256, 4096


def _pooling(model_folder: Path) -> str:
    config = model_folder / "1_Pooling" / "config.json"
    if config.is_file():
        values = json.loads(config.read_text(encoding="utf-8"))
        if values.get("pooling_mode_cls_token"):
            return "cls"
    return "mean"


class OnnxQueryEncoder:
    def __init__(self, onnx_folder: Path, model_folder: Path, *, prefix: str,
                 max_seq_length: int, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.prefix = prefix
        self.pooling = _pooling(model_folder)
        self._tokenizer = Tokenizer.from_file(str(model_folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_seq_length)
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(onnx_folder / "model.onnx"), options,
                                             providers=["CPUExecutionProvider"])

    def encode(self, text: str, *, prefix: str | None = None) -> np.ndarray:
        """One text's unit vector; ``prefix`` replaces the query prefix (e5 reads
        passages as "passage: ...", the same network)."""
        return self.encode_many([text], prefix=prefix)[0]

    def encode_many(self, texts: list[str], *, prefix: str | None = None,
                    batch: int = 32) -> np.ndarray:
        """Many texts' unit vectors, in batches of similar length (padding is masked, so
        each vector is the one ``encode`` gives, to rounding)."""
        pre = self.prefix if prefix is None else prefix
        encodings = self._tokenizer.encode_batch([pre + t for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        vectors: list[np.ndarray | None] = [None] * len(texts)
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for n, i in enumerate(rows):
                ids[n, :len(encodings[i].ids)] = encodings[i].ids
                mask[n, :len(encodings[i].ids)] = encodings[i].attention_mask
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.maximum(
                    1, mask.sum(axis=1, keepdims=True))
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            pooled = pooled / np.where(norms > 0, norms, 1.0)
            for n, i in enumerate(rows):
                vectors[i] = pooled[n].astype(np.float32)
        return np.stack(vectors)


class OnnxEmbedder:
    """A whole ``Embedder`` (queries and passages) on ONNX Runtime alone: no PyTorch, so
    a few hundred MB instead of two GB, and no child process needed to keep the window
    responsive (the runtime releases the interpreter lock).  Its vectors are those of
    the sentence-transformers model it was exported from (checked at export), under the
    same name, so an index made by either serves both.  Many texts go in batches of
    similar length."""

    def __init__(self, encoder: OnnxQueryEncoder, *, name: str, passage_prefix: str) -> None:
        self._encoder = encoder
        self.name = name
        self.passage_prefix = passage_prefix
        self.dimension = int(encoder.encode("dimension").shape[0])
        self.query_runtime = "onnxruntime"

    def embed_query(self, text: str) -> np.ndarray:
        return self._encoder.encode(text)

    def embed_queries(self, texts) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encoder.encode_many(list(texts))

    def embed_passages(self, texts) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encoder.encode_many(list(texts), prefix=self.passage_prefix)


def export_state(onnx_folder: Path, model_folder: Path) -> str:
    """"current", "stale" (made from other model files) or "missing"."""
    try:
        recorded = json.loads((onnx_folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError):
        return "stale"
    return "current" if recorded.get("fingerprint") == fingerprint(model_folder) else "stale"


def load(onnx_folder: Path, model_folder: Path, *, prefix: str, max_seq_length: int,
         threads: int = 1) -> OnnxQueryEncoder | None:
    """The exported query encoder, or None (with a log line) if missing or stale."""
    state = export_state(onnx_folder, model_folder)
    if state == "missing":
        log.info("No ONNX export in %s: queries use PyTorch", onnx_folder)
        return None
    if state == "stale":
        log.warning("The ONNX export in %s is not of the model in %s (changed since): "
                    "queries use PyTorch", onnx_folder, model_folder)
        return None
    try:
        return OnnxQueryEncoder(onnx_folder, model_folder, prefix=prefix,
                                max_seq_length=max_seq_length, threads=threads)
    except Exception as exc:  # noqa: BLE001 - a broken export must not stop search
        log.warning("The ONNX export in %s cannot be loaded (%s): queries use PyTorch",
                    onnx_folder, exc)
        return None


def export(model_folder: Path, out: Path, *, prefix: str, max_seq_length: int) -> float:
    """Export the transformer of the sentence-transformers model in ``model_folder`` to
    ``out``/model.onnx, check it, and return the lowest cosine similarity to
    sentence-transformers' own query embeddings over ``CHECK_TEXTS``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_folder), attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask) \
                .last_hidden_state

    out.mkdir(parents=True, exist_ok=True)
    example = torch.ones((1, 8), dtype=torch.long)
    with torch.inference_mode():
        torch.onnx.export(LastHiddenState(model), (example, torch.ones_like(example)),
                          str(out / "model.onnx"), input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"},
                                        "last_hidden_state": {0: "batch", 1: "tokens"}})
    reference = SentenceTransformer(str(model_folder), device="cpu", local_files_only=True)
    reference.max_seq_length = max_seq_length
    encoder = OnnxQueryEncoder(out, model_folder, prefix=prefix, max_seq_length=max_seq_length)
    expected = reference.encode([prefix + t for t in CHECK_TEXTS], normalize_embeddings=True)
    worst = min(float(np.dot(encoder.encode(t), e)) for t, e in zip(CHECK_TEXTS, expected))
    if worst < MIN_COSINE:
        (out / "model.onnx").unlink(missing_ok=True)
        raise EmbedderError(f"The ONNX export of {model_folder} differs from the model "
                            f"(cosine {worst:.5f}); queries will use PyTorch.")
    (out / MANIFEST).write_text(json.dumps({"fingerprint": fingerprint(model_folder),
                                            "source": str(model_folder),
                                            "min_cosine": worst}, indent=1), encoding="utf-8")
    return worst
