"""Product recommendations for the open ticket, each with its reason.

What is suggested depends on what the conversation is about (the analyser's intent and
mood) and on what the customer bought (their orders, by email or phone):

- **match**: products the customer asks about or describes (keyword and semantic match,
  Chinese and English), for product questions, coupon questions, gift ideas;
- **variant**: another size or colour of the product in question that is in stock, for an
  exchange or an out-of-stock variant;
- **replacement**: the same product, or a part for it, when the customer reports it
  damaged or asks for a replacement;
- **substitute**: the same type at a close price (same currency), when the product in
  question is out of stock, defective or being returned;
- **complement**: what other customers bought with what this one owns (co-purchase in the
  order history), then products sharing its tags; **refill** for consumables.

Out-of-stock and unpublished products are never suggested; what the customer already owns
only when it is a consumable or a replacement they asked for.  Where a suggestion would be
tone-deaf (an escalation, an angry refund or a complaint, an invoice or account question)
there is none, and ``withheld`` says why, unless a replacement is what the customer asked
for.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from core.catalog.prices import format_price
from core.catalog.records import Product
from core.catalog.store import CatalogStore, PastOrder, Snapshot
from core.engine import StopFlag
from core.errors import EmbedderError
from core.tickets import Ticket

log = logging.getLogger("kefu.catalog.recommend")

EMBED_BATCH = 64
MATCH_POOL = 60                 # keyword and semantic candidates considered per ticket
SEMANTIC_Z = 2.5                # a product this far above the catalog's mean similarity
                                # is relevant without a shared word
MIN_SCORE = 0.25                # weaker suggestions are noise beside a reply
PRICE_BAND = 0.35               # substitutes cost within 35% of the product they replace

# Intents (core.analysis) for which a suggestion is out of place unless asked for.
QUIET_INTENTS = frozenset({"complaint", "cancel_order", "payment", "account", "invoice",
                           "shipping_delay", "order_status"})
# The kinds of suggestion that fit each intent, with their weight.
POLICY: dict[str, dict[str, float]] = {
    "product_question": {"match": 1.0, "variant": 0.9, "substitute": 0.7,
                         "complement": 0.45, "refill": 0.4},
    "coupon": {"match": 1.0, "complement": 0.5, "refill": 0.4},
    "praise": {"complement": 1.0, "refill": 0.8, "match": 0.6},
    "exchange": {"variant": 1.0, "substitute": 0.7, "match": 0.5},
    "damaged_item": {"replacement": 1.0, "variant": 0.9, "substitute": 0.6, "match": 0.5},
    "return_refund": {"variant": 1.0, "substitute": 0.8, "match": 0.5},
    "": {"match": 1.0, "variant": 0.8, "substitute": 0.6, "complement": 0.4, "refill": 0.4},
}
# A replacement asked for in an escalation, a complaint or an angry message.
REPLACEMENT_ONLY = {"replacement": 1.0, "variant": 0.9, "substitute": 0.6}

_ASKS_REPLACEMENT = re.compile(
    r"\b(replace(?:ment)?|send (?:me )?(?:a )?(?:new|another)(?: one)?|exchange|swap|"
    r"reship|re-ship|spare|a new one)\b|补发|换货|换一个|换个|换成|重新发|再发一个|换新|"
    r"重发|配件|单独买|单买", re.IGNORECASE)
_ASKS_SUGGESTION = re.compile(
    r"\b(recommend\w*|suggest\w*|alternative\w*|similar|other (?:options?|models?|styles?)|"
    r"any other|what else|gift\w*|looking for|do you (?:have|sell|carry)|which (?:one|\w+) "
    r"(?:should|would)|instead)\b|推荐|有没有别的|有没有其他|其他款|别的款|类似|替代|送礼|礼物|"
    r"还有什么|有没有.{0,12}(?:的|款)|哪款|哪个好|想买|想要一", re.IGNORECASE)
_ORDER_NUMBER = re.compile(r"#?\b([A-Z]{0,4}\d[\dA-Z-]{3,30})\b")


class Embedder(Protocol):
    name: str

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


@dataclass(frozen=True)
class Mood:
    """What the analyser says about the conversation (core.analysis), or nothing."""
    intent: str = ""
    sentiment: str = ""
    escalation: bool = False

    @classmethod
    def from_analysis(cls, analysis) -> "Mood":
        if analysis is None:
            return cls()
        get = analysis.get if isinstance(analysis, dict) else \
            (lambda k, d=None: getattr(analysis, k, d))
        return cls(intent=str(get("intent", "") or ""),
                   sentiment=str(get("sentiment", "") or ""),
                   escalation=bool(get("escalation", False)))


@dataclass(frozen=True)
class Recommendation:
    handle: str
    title: str
    kind: str                       # match, variant, replacement, substitute, complement, refill
    reason: str
    score: float
    price: Decimal | None = None
    currency: str = ""
    stock: int | None = None        # None: not tracked
    variant: str = ""               # the variant suggested ("Large / Forest Green Plaid")
    on_sale: bool = False

    @property
    def price_text(self) -> str:
        return format_price(self.price, self.currency)

    def line(self, lang: str) -> str:
        """What "Insert" puts into the reply, in the reply's language."""
        name = f"{self.title} ({self.variant})" if self.variant else self.title
        price = self.price_text
        if lang.startswith("zh"):
            return f"{name}{'，' + price if price else ''}"
        return f"{name}{' – ' + price if price else ''}"

    def prompt_line(self, lang: str) -> str:
        """What the draft is told about this product (see ``core.prompt``)."""
        stock = "" if self.stock is None else f"; {self.stock} in stock"
        return f"{self.line(lang)} (why it fits: {self.reason}{stock})"

    def to_json(self) -> dict:
        return {"handle": self.handle, "title": self.title,
                "price": None if self.price is None else str(self.price),
                "currency": self.currency, "price_text": self.price_text,
                "stock": self.stock, "variant": self.variant or None, "kind": self.kind,
                "reason": self.reason, "score": round(self.score, 4)}


@dataclass
class RecommendResult:
    products: list[Recommendation]
    withheld: str = ""              # why there is none on purpose (tone)
    history: list[PastOrder] = field(default_factory=list)
    referenced: str = ""            # the handle the conversation is about, if found
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"products": [p.to_json() for p in self.products],
                "withheld": self.withheld or None, "referenced": self.referenced or None,
                "notes": self.notes,
                "history": [o.to_json() for o in self.history]}


@dataclass
class EmbedProgress:
    done: int
    total: int


def policy_for(mood: Mood, text: str) -> tuple[dict[str, float], str]:
    """(weights of the kinds of suggestion that fit, why none when empty)."""
    asks_replacement = bool(_ASKS_REPLACEMENT.search(text))
    asks_suggestion = bool(_ASKS_SUGGESTION.search(text))
    negative = mood.sentiment in ("negative", "very_negative")
    if mood.escalation:
        if asks_replacement:
            return REPLACEMENT_ONLY, ""
        return {}, "the customer is escalating: no product suggestions"
    if mood.intent in QUIET_INTENTS or (mood.intent == "return_refund" and negative):
        if asks_replacement and mood.intent not in ("invoice", "account", "payment",
                                                    "cancel_order"):
            return REPLACEMENT_ONLY, ""
        if asks_suggestion and not negative:
            return {"match": 1.0, "substitute": 0.6}, ""
        what = mood.intent.replace("_", " ") or "this request"
        article = "an" if what[0] in "aeiou" else "a"
        return {}, (f"an unhappy {what}" if negative else f"{article} {what} request") + \
            ": a product suggestion would be out of place"
    if mood.sentiment == "very_negative" and not asks_replacement:
        return {}, "the customer is very unhappy: no product suggestions"
    if negative and mood.intent == "damaged_item" and not asks_replacement:
        return {"replacement": 1.0, "variant": 0.8}, ""
    weights = dict(POLICY.get(mood.intent, POLICY[""]))
    if asks_suggestion:
        weights["match"] = max(weights.get("match", 0.0), 1.0)
    return weights, ""


def _customer_text(ticket: Ticket) -> str:
    customer = [m.text for m in ticket.messages if m.sender == "customer"]
    return "\n".join([ticket.subject, *customer[-2:]])[:4000]


class Recommender:
    """Recommends from a ``CatalogStore``; the embedding model is loaded on first use."""

    def __init__(self, store: CatalogStore, *,
                 embedder_factory: Callable[[], Embedder] | None = None) -> None:
        self.store = store
        self._factory = embedder_factory
        self._embedder: Embedder | None = None
        self._snapshot: Snapshot | None = None
        self.embedder_error = ""

    @property
    def embedder(self) -> Embedder | None:
        """The embedding model, loaded on first use; None (keyword search only) when there
        is none or it cannot be loaded (``embedder_error`` says why)."""
        if self._embedder is None and self._factory is not None:
            try:
                self._embedder = self._factory()
            except EmbedderError as exc:
                log.warning("Product search falls back to keywords: %s", exc)
                self.embedder_error = str(exc)
                self._factory = None
        return self._embedder

    def close(self) -> None:
        closer = getattr(self._embedder, "close", None)
        if closer is not None:
            closer()
        self._embedder = None
        self.store.close()

    # ---- vectors --------------------------------------------------------------------------
    def embed_catalog(self, *, stop: StopFlag | None = None) -> Iterator[EmbedProgress]:
        """Embed every product whose text has no current vector, a batch at a time."""
        embedder = self.embedder
        if embedder is None:
            return
        total = self.store.count_unembedded(embedder.name)
        done = 0
        yield EmbedProgress(0, total)
        while done < total:
            if stop is not None and stop.is_set():
                return
            batch = self.store.unembedded(embedder.name, limit=EMBED_BATCH)
            if not batch:
                break
            vectors = embedder.embed_passages([text for _, _, text in batch])
            self.store.save_vectors(embedder.name, [(pid, h, vec) for (pid, h, _), vec
                                                    in zip(batch, vectors)])
            done += len(batch)
            yield EmbedProgress(done, total)

    def snapshot(self) -> Snapshot:
        version = self.store.version
        if self._snapshot is None or self._snapshot.version != version:
            name = self._embedder.name if self._embedder is not None else (
                self.embedder.name if self._factory is not None else None)
            self._snapshot = self.store.snapshot(name)
        return self._snapshot

    # ---- recommending ---------------------------------------------------------------------
    def recommend(self, ticket: Ticket, *, mood: Mood | None = None, k: int = 3
                  ) -> RecommendResult:
        mood = mood or Mood()
        text = _customer_text(ticket)
        customer = ticket.customer or {}
        history = self.store.customer_orders(email=str(customer.get("email") or ""),
                                             phone=str(customer.get("phone") or ""))
        weights, withheld = policy_for(mood, text)
        if not weights:
            return RecommendResult([], withheld=withheld, history=history)
        if not self.store.has_products():
            return RecommendResult([], history=history)
        snap = self.snapshot()
        available = snap.in_stock & snap.published

        from core.kb.keyword import tokenize

        query_words = tokenize(text)
        keyword = self.store.keyword_search(query_words, limit=MATCH_POOL)
        sims = None
        if snap.vectors is not None and self.embedder is not None:
            query = np.asarray(self.embedder.embed_query(text[:1500]), dtype=np.float32)
            query = query / (np.linalg.norm(query) or 1.0)
            sims = snap.vectors @ query
            sims[~snap.embedded] = np.nan

        owned = self._owned(history, snap)
        referenced, owned_variant = self._referenced(text, query_words, keyword, snap, owned,
                                                     history, mood)
        candidates: dict[int, Recommendation] = {}

        def offer(row: int, kind: str, base: float, reason: str, *, variant: str = "",
                  owned_ok: bool = False) -> None:
            weight = weights.get(kind, 0.0)
            if weight <= 0 or not available[row]:
                return
            if row in owned and not owned_ok and not snap.consumable[row]:
                return
            score = weight * base
            previous = candidates.get(row)
            if previous is None or previous.score < score:
                candidates[row] = self._recommendation(snap, row, kind, reason, score,
                                                       variant=variant)

        if "match" in weights:
            for row, base, reason in self._matches(query_words, keyword, sims, snap,
                                                   available):
                if row != referenced or referenced not in owned:
                    offer(row, "match", base, reason)
        if referenced is not None:
            self._around(referenced, owned_variant, text, snap, offer, weights)
        if {"complement", "refill"} & weights.keys():
            self._complements(owned, referenced, snap, offer)
        ranked = sorted((c for c in candidates.values() if c.score >= MIN_SCORE),
                        key=lambda r: -r.score)[:k]
        notes = []
        if self.embedder_error:
            notes.append(f"Keyword search only: {self.embedder_error}")
        elif snap.vectors is not None and not snap.embedded.all():
            notes.append(f"{int((~snap.embedded).sum())} products are not embedded yet: "
                         f"they are found by keyword only")
        return RecommendResult(ranked, history=history, notes=notes,
                               referenced=snap.handles[referenced] if referenced is not None
                               else "")

    def _recommendation(self, snap: Snapshot, row: int, kind: str, reason: str,
                        score: float, *, variant: str = "") -> Recommendation:
        product = self.store.product(snap.handles[row])
        assert product is not None
        chosen = next((v for v in product.variants if v.title == variant), None) \
            if variant else None
        in_stock = [v for v in product.variants if v.in_stock]
        shown = chosen or (min(in_stock, key=lambda v: v.price or Decimal(0))
                           if in_stock else product.variants[0])
        return Recommendation(
            handle=product.handle, title=product.title, kind=kind, reason=reason,
            score=float(score), price=shown.price, currency=shown.currency,
            stock=(chosen.inventory if chosen is not None else product.stock),
            variant=variant,
            on_sale=bool(shown.compare_at and shown.price and shown.compare_at > shown.price))

    @staticmethod
    def _owned(history: list[PastOrder], snap: Snapshot) -> dict[int, str]:
        """row -> the date it was bought, for the customer's products in the catalog."""
        owned: dict[int, str] = {}
        for order in history:               # newest first: keep the latest date
            for line in order.lines:
                row = snap.row_of_handle(line.handle) if line.handle else None
                if row is not None and row not in owned:
                    owned[row] = order.created[:10]
        return owned

    def _referenced(self, text: str, query_words: list[str], keyword, snap: Snapshot,
                    owned: dict[int, str], history: list[PastOrder], mood: Mood
                    ) -> tuple[int | None, str]:
        """(row of the product the conversation is about, the variant the customer has)."""
        from core.kb.keyword import tokenize

        words = set(query_words)
        variants: dict[int, str] = {}
        in_order: list[int] = []            # lines of an order the text names
        named = {m.group(1).upper() for m in _ORDER_NUMBER.finditer(text)}
        for order in history:
            mentioned = order.number.upper().lstrip("#") in named
            for line in order.lines:
                row = snap.row_of_handle(line.handle) if line.handle else None
                if row is None:
                    continue
                if " - " in line.name:
                    variants.setdefault(row, line.name.rsplit(" - ", 1)[1].strip())
                if mentioned:
                    in_order.append(row)
        row_of = snap.row_of()
        pool = list(dict.fromkeys([*in_order, *owned,
                                   *(row_of[pid] for pid, _ in keyword[:10] if pid in row_of)]))
        if not pool:
            return None, ""
        titles = self.store.titles([int(snap.ids[r]) for r in pool])
        best: tuple[float, int] | None = None
        for rank, row in enumerate(pool):
            title_words = set(tokenize(titles.get(int(snap.ids[row]), "")))
            if not title_words:
                continue
            overlap = len(title_words & words) / len(title_words)
            score = overlap + (0.3 if row in in_order else 0.0) + \
                (0.15 if row in owned else 0.0) - rank * 0.001
            needed = 0.3 if (row in owned or row in in_order) else 0.6
            if overlap >= needed and (best is None or score > best[0]):
                best = (score, row)
        if best is None and mood.intent in ("damaged_item", "exchange", "return_refund"):
            # "It arrived broken": the newest order's only product, if it has one
            latest = [r for r in in_order] or [
                snap.row_of_handle(ln.handle) for ln in (history[0].lines if history else ())
                if ln.handle and snap.row_of_handle(ln.handle) is not None]
            if len(set(latest)) == 1:
                best = (0.0, latest[0])
        if best is None:
            return None, ""
        return best[1], variants.get(best[1], "")

    def _matches(self, query_words: list[str], keyword, sims, snap: Snapshot,
                 available: np.ndarray) -> list[tuple[int, float, str]]:
        """(row, 0..1, reason) of products the text asks about or describes."""
        row_of = snap.row_of()
        kw: dict[int, float] = {}
        if keyword:
            top = keyword[0][1] or 1.0
            kw = {row_of[pid]: score / top for pid, score in keyword if pid in row_of}
        z: dict[int, float] = {}
        if sims is not None:
            usable = available & snap.embedded
            if usable.sum() >= 5:
                values = sims[usable]
                mean, std = float(values.mean()), float(values.std()) or 1.0
                masked = np.where(usable, sims, -np.inf)
                top_rows = np.argpartition(-masked, min(MATCH_POOL, len(masked) - 1))[:MATCH_POOL]
                z = {int(r): (float(sims[r]) - mean) / std for r in top_rows if usable[r]}
        rows = [r for r in set(kw) | set(z) if available[r]]
        from core.kb.keyword import tokenize

        words = set(query_words)
        titles = self.store.titles([int(snap.ids[r]) for r in rows])
        passing = []
        for row in rows:
            k, zz = kw.get(row, 0.0), z.get(row, 0.0)
            title_words = set(tokenize(titles.get(int(snap.ids[row]), "")))
            # A word of the product's name in the message is a strong sign on its own,
            # however common the word is in the rest of the catalog.
            named = len(title_words & words) / len(title_words) if title_words else 0.0
            if k < 0.35 and zz < SEMANTIC_Z and named < 0.25:
                continue
            semantic = min(max((zz - 1.0) / 3.0, 0.0), 1.0)
            base = (0.5 * k + 0.5 * semantic) if sims is not None else k
            if named:
                base = max(base, 0.3 + 0.5 * named + (0.2 * semantic if sims is not None
                                                      else 0.0))
            passing.append((row, min(base, 1.0)))
        passing.sort(key=lambda item: -item[1])
        passing = passing[:12]
        if not passing:
            return []
        products = self.store.products([int(snap.ids[r]) for r, _ in passing])
        out = []
        for row, base in passing:
            product = products.get(int(snap.ids[row]))
            if product is None:
                continue
            shared = [w for w in dict.fromkeys(tokenize(
                f"{product.title} {product.type} {' '.join(product.tags)}")) if w in words]
            shared = [w for w in shared if not any(w != o and w in o for o in shared)]
            reason = ("Matches " + ", ".join(f"“{w}”" for w in shared[:3])
                      + " in the customer's message") if shared else \
                "Close to what the customer describes"
            out.append((row, base, reason))
        return out

    def _around(self, referenced: int, owned_variant: str, text: str, snap: Snapshot,
                offer, weights: dict[str, float]) -> None:
        """Variants, the product itself or its parts, and substitutes for ``referenced``."""
        from core.kb.keyword import tokenize

        product = self.store.product(snap.handles[referenced])
        if product is None:
            return
        words = set(tokenize(text))
        others = [v for v in product.variants if v.in_stock and v.title
                  and v.title != owned_variant]
        if others and ("variant" in weights):
            def fit(variant) -> float:
                parts = set(tokenize(variant.title))
                return len(parts & words) / len(parts) if parts else 0.0
            choice = max(others, key=fit)
            if fit(choice) > 0 or len(product.variants) > 1:
                stock = f" ({choice.inventory} in stock)" if choice.inventory is not None \
                    else " (in stock)"
                offer(referenced, "variant", 0.6 + 0.4 * fit(choice),
                      f"{product.title}: {choice.title}{stock}"
                      + (f", instead of {owned_variant}" if owned_variant else ""),
                      variant=choice.title, owned_ok=True)
        if "replacement" in weights:
            same = next((v for v in product.variants if v.title == owned_variant
                         and v.in_stock), None)
            if same is not None or (not owned_variant and product.in_stock):
                offer(referenced, "replacement", 0.9,
                      f"A replacement {product.title}"
                      + (f" ({owned_variant})" if owned_variant else "") + " is in stock",
                      variant=owned_variant if same is not None else "", owned_ok=True)
        if "substitute" in weights and snap.types[referenced] and \
                not np.isnan(snap.price[referenced]):
            base_price = snap.price[referenced]
            same_type = np.array([t == snap.types[referenced] for t in snap.types])
            same_currency = np.array([c == snap.currency[referenced] for c in snap.currency])
            close = np.abs(snap.price - base_price) <= PRICE_BAND * base_price
            rows = np.flatnonzero(same_type & same_currency & close & snap.in_stock
                                  & snap.published)
            rows = rows[rows != referenced]
            if len(rows) and snap.vectors is not None and snap.embedded[referenced]:
                closeness = snap.vectors[rows] @ snap.vectors[referenced]
            else:
                closeness = 1.0 - np.abs(snap.price[rows] - base_price) / base_price
            why = "out of stock" if not product.in_stock else (
                "in question" if "replacement" not in weights else "damaged")
            for row, near in sorted(zip(rows, closeness), key=lambda x: -x[1])[:4]:
                offer(int(row), "substitute", 0.5 + 0.4 * float(near),
                      f"Same type as {product.title} ({why}): "
                      f"{format_price(snap.price[row], snap.currency[row])} vs "
                      f"{format_price(base_price, snap.currency[referenced])}")

    def _complements(self, owned: dict[int, str], referenced: int | None, snap: Snapshot,
                     offer) -> None:
        anchors = list(dict.fromkeys(([referenced] if referenced is not None else [])
                                     + list(owned)))[:10]
        if not anchors:
            return
        ids = [int(snap.ids[r]) for r in anchors]
        row_of = snap.row_of()
        titles = self.store.titles(ids)
        anchor_types = {snap.types[r] for r in anchors if snap.types[r]}
        found = 0
        for row, bought in owned.items():
            if snap.consumable[row]:         # they buy it again
                offer(row, "refill", 0.7, f"They buy this again: last on {bought}")
        for pid, together, with_pid in self.store.co_purchased(ids, limit=30):
            row = row_of.get(pid)
            if row is None:
                continue
            consumable = bool(snap.consumable[row])
            if snap.types[row] in anchor_types and not consumable:
                continue                    # another of the same kind is no complement
            with_title = titles.get(with_pid, "what they bought")
            bought = owned.get(row_of.get(with_pid, -1), "")
            kind = "refill" if consumable else "complement"
            reason = (f"Refill or part for the {with_title}" if consumable else
                      f"Often bought with the {with_title}") + \
                f" ({together} order{'s' if together != 1 else ''})" + \
                (f"; they bought it on {bought}" if bought and consumable else "")
            offer(row, kind, min(1.0, 0.45 + 0.15 * together), reason)
            found += 1
        if found >= 3:
            return
        # Few orders to learn from: products sharing tags with theirs, of another type.
        for anchor in anchors[:3]:
            tags = snap.tags[anchor]
            if not tags:
                continue
            shared = np.array([len(tags & t) for t in snap.tags])
            for row in np.argsort(-shared)[:20]:
                if shared[row] == 0 or row == anchor or snap.types[row] in anchor_types:
                    continue
                common = sorted(tags & snap.tags[row])[:3]
                offer(int(row), "refill" if snap.consumable[row] else "complement",
                      0.35 + 0.1 * min(int(shared[row]), 3),
                      f"Goes with the {titles.get(int(snap.ids[anchor]), 'product')} "
                      f"(tags: {', '.join(common)})")
