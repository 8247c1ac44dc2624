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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from core.catalog.policy import (VARIANT_INTENTS, Mood, asks_other, asks_replacement,
                                 budget, policy_for)
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

# Tags too broad to say that a part fits a product.
GENERIC_TAGS = frozenset({"consumable", "consumables", "耗材", "sale", "new", "gift", "bestseller",
                          "热销", "新品", "礼物", "home", "家居"})
_ORDER_NUMBER = re.compile(r"#?\b([A-Z]{0,4}\d[\dA-Z-]{3,30})\b")


class Embedder(Protocol):
    name: str

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


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
                "price": None if self.price is None else float(self.price),
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


QUERY_TOKENS = 80              # the query embedding's cost grows with its length


def clip_tokens(text: str, limit: int = QUERY_TOKENS) -> str:
    """The start of ``text`` up to about ``limit`` tokens of the multilingual encoder:
    a Chinese character is about one, an English word about 1.3."""
    used = 0.0
    for i, ch in enumerate(text):
        used += 1.0 if "\u4e00" <= ch <= "\u9fff" else (0.3 if ch.isalnum() else 0.1)
        if used > limit:
            return text[:i]
    return text


def _customer_text(ticket: Ticket) -> str:
    customer = [m.text for m in ticket.messages if m.sender == "customer"]
    return "\n".join([ticket.subject, *customer[-2:]])[:4000]


# Sizes as variants name them and as customers write them.
_SIZES = {"xxs": "extra extra small", "xs": "extra small", "s": "small", "m": "medium",
          "l": "large", "xl": "extra large", "xxl": "extra extra large", "大码": "large",
          "中码": "medium", "小码": "small"}
_SIZE = re.compile(r"(?<![A-Za-z])(XXS|XS|S|M|L|XL|XXL)(?![A-Za-z])|大码|中码|小码")


def option_words(title: str) -> set[str]:
    """The words of a variant's options, sizes spelled out ("L / Navy" -> large, navy)."""
    from core.kb.keyword import tokenize

    spelled = _SIZE.sub(lambda m: " " + _SIZES[m.group(0).lower()] + " ", title)
    return set(tokenize(spelled))


def _wanted_sold_out(product: Product, words: set[str], *, besides: str = "") -> bool:
    """The message names options of ``product`` ("King", "1.8米") and every variant with
    them is sold out, while the product has variants that differ in them.  ``besides``
    is the variant the customer already has (not the one they want)."""
    if len(product.variants) < 2:
        return False
    named = []
    for variant in product.variants:
        if besides and variant.title == besides:
            continue
        parts = option_words(variant.title)
        shared = parts & words
        if shared:
            named.append((len(shared), variant))
    if not named:
        return False
    best = max(n for n, _ in named)
    wanted = [v for n, v in named if n == best]
    return len(wanted) < len(product.variants) and not any(v.in_stock for v in wanted)


class Recommender:
    """Recommends from a ``CatalogStore``; the embedding model is loaded on first use."""

    def __init__(self, store: CatalogStore, *,
                 embedder_factory: Callable[[], Embedder] | None = None) -> None:
        self.store = store
        self._factory = embedder_factory
        self._embedder: Embedder | None = None
        self._snapshot: Snapshot | None = None
        self._keywords = None           # ((products version, rows), KeywordIndex)
        self.embedder_error = ""
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kefu-query")

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
        self._encoder.shutdown(wait=True)     # no encoding may outlive the model
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
            products = (self.store.products_version, len(self._snapshot.ids))
            if self._keywords is None or self._keywords[0] != products:
                from core.catalog.keywords import keyword_index

                self._keywords = (products, keyword_index(self.store, self._snapshot))
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
            return RecommendResult([], history=history, notes=[
                "The product catalog is empty: import a catalog (File › Import products…, "
                "or kefu products import FILE)."])
        snap = self.snapshot()
        available = snap.in_stock & snap.published
        # The query's embedding is computed on a helper thread (the encoder releases the
        # interpreter lock) while the order history and keyword index are read here.
        encoding = None
        if snap.vectors is not None and self.embedder is not None:
            # The subject and the newest message say what is wanted; a shorter query is
            # also a faster one (the encoder's cost grows with its length).
            latest = f"{ticket.subject}\n{ticket.last_customer_text}".strip() or text
            encoding = self._encoder.submit(self.embedder.embed_query, clip_tokens(latest))

        from core.kb.keyword import tokenize

        # Words of the other language too (the glossary), so a Chinese question finds an
        # English product by name and the reverse.
        from core.kb.glossary import product_glossary

        query_words = tokenize(text) + tokenize(product_glossary().translate_terms(text))
        searched: dict[tuple[str, ...], list[tuple[int, float]]] = {}

        def keyword_search(words: list[str]) -> list[tuple[int, float]]:
            key = tuple(words)
            if key not in searched:
                index = self._keywords[1]
                searched[key] = [(int(snap.ids[index.ids[i]]), score) for i, score
                                 in index.search_words(words, MATCH_POOL)]
            return searched[key]

        owned = self._owned(history, snap)
        referenced, owned_variant = self._referenced(
            text, query_words, lambda: keyword_search(query_words), snap, owned, history, mood)
        words = set(query_words)
        ref_product = self.store.product(snap.handles[referenced]) \
            if referenced is not None else None
        # The words that name what the customer owns describe it, not what they need:
        # "my Luna lamp came without a bulb" asks for a bulb, not for another lamp.
        if ref_product is not None and referenced in owned:
            named = self.store.title_words([int(snap.ids[referenced])]).get(
                int(snap.ids[referenced]), frozenset())
            match_words = [w for w in query_words if w not in named]
        else:
            match_words = query_words
        keyword = keyword_search(match_words)
        # A product asked for in a size or colour that is sold out is, for this
        # customer, sold out: it gets substitutes, not a card.
        sold_out_here: set[int] = set()
        # A store that sells in two currencies (two shops, one catalog): the customer's.
        currency = next((o.currency for o in history if o.currency), "")
        # "A gift under $30", "预算300以内": nothing dearer (a replacement is another matter).
        limit = budget(text)
        # Words and tags of what they own: a part must fit one of those.
        from_titles: set[str] = set()
        mine = list(owned)      # a part fits what they have, not what they ask about
        for row, title in self.store.title_words([int(snap.ids[r]) for r in mine]).items():
            from_titles |= title
        for row in mine:
            from_titles |= {t for t in snap.tags[row] if t not in GENERIC_TAGS}
        # row -> (score, kind, reason, variant); cards are built for the best k only.
        candidates: dict[int, tuple[float, str, str, str]] = {}

        def offer(row: int, kind: str, base: float, reason: str, *, variant: str = "",
                  owned_ok: bool = False) -> None:
            weight = weights.get(kind, 0.0)
            if weight <= 0 or not available[row] or row in sold_out_here:
                return
            if currency and snap.currency[row] and snap.currency[row] != currency:
                return
            if limit is not None and kind not in ("replacement", "variant") \
                    and not np.isnan(snap.price[row]) \
                    and (not limit[1] or snap.currency[row] in ("", limit[1])) \
                    and snap.price[row] > limit[0] * 1.05:
                return
            if row in owned and not owned_ok and not snap.consumable[row]:
                return
            score = weight * min(base, 1.0)
            previous = candidates.get(row)
            if previous is None or previous[0] < score:
                candidates[row] = (score, kind, reason, variant)

        sims = None
        if encoding is not None:
            query = np.asarray(encoding.result(), dtype=np.float32)
            query = query / (np.linalg.norm(query) or 1.0)
            sims = snap.vectors @ query
            sims[~snap.embedded] = np.nan
        matches = self._matches(match_words, keyword, sims, snap, available)
        match_base = {row: base for row, base, _ in matches}
        for row, base, reason in matches:
            product = self.store.product(snap.handles[row])
            if product is not None and _wanted_sold_out(product, words):
                sold_out_here.add(row)
        if ref_product is not None and (referenced not in owned
                                        or mood.intent in VARIANT_INTENTS) \
                and _wanted_sold_out(ref_product, words, besides=owned_variant):
            sold_out_here.add(referenced)
        if referenced is not None and referenced in owned and snap.consumable[referenced]:
            offer(referenced, "part", 0.95, f"A refill of what they bought on "
                                            f"{owned[referenced]}")
        # "Any other lamp that supports HomeKit?": not the one in question.
        skip_referenced = referenced is not None and (referenced in owned or asks_other(text))
        for row, base, reason in matches:
            if row == referenced and skip_referenced:
                continue
            if snap.consumable[row] and self._fits(row, snap, from_titles):
                offer(row, "part", 0.5 + 0.5 * base, reason.replace(
                    "Matches", "A part or refill: matches", 1))
            else:
                offer(row, "match", base, reason)
        if referenced is not None:
            self._around(referenced, owned_variant, text, snap, offer, weights,
                         owned=referenced in owned, intent=mood.intent,
                         sold_out=referenced in sold_out_here)
        for row in [r for r, _, _ in matches if r in sold_out_here and r != referenced][:2]:
            self._substitutes(row, self.store.product(snap.handles[row]), snap, offer,
                              weights, "sold out in that size or colour", lift=True)
        if {"complement", "refill"} & weights.keys():
            self._complements(owned, referenced, snap, offer, match_base)
        best = sorted(((row, c) for row, c in candidates.items() if c[0] >= MIN_SCORE),
                      key=lambda item: -item[1][0])[:k]
        ranked = [self._recommendation(snap, row, kind, reason, score, variant=variant)
                  for row, (score, kind, reason, variant) in best]
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

    def _referenced(self, text: str, query_words: list[str],
                    keyword: Callable[[], list[tuple[int, float]]], snap: Snapshot,
                    owned: dict[int, str], history: list[PastOrder], mood: Mood
                    ) -> tuple[int | None, str]:
        """(row of the product the conversation is about, the variant the customer has).

        What the customer bought comes first; the catalog is searched only when none of
        it is named clearly (one keyword search less for most tickets)."""
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
                if line.variant:                 # by SKU: the catalog's own name
                    variants.setdefault(row, line.variant)
                elif " - " in line.name:
                    variants.setdefault(row, line.name.rsplit(" - ", 1)[1].strip())
                if mentioned:
                    in_order.append(row)
        row_of = snap.row_of()
        mine = list(dict.fromkeys([*in_order, *owned]))
        best = self._best_named(mine, words, snap, in_order, owned)
        if best is None or best[0] < 0.75:
            pool = list(dict.fromkeys([*mine, *(row_of[pid] for pid, _ in keyword()[:10]
                                                if pid in row_of)]))
            best = self._best_named(pool, words, snap, in_order, owned)
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

    def _best_named(self, pool: list[int], words: set[str], snap: Snapshot,
                    in_order: list[int], owned: dict[int, str]) -> tuple[float, int] | None:
        """(score, row) of the product in ``pool`` whose name the message uses most."""
        if not pool:
            return None
        titles = self.store.title_words([int(snap.ids[r]) for r in pool])
        best: tuple[float, int] | None = None
        for rank, row in enumerate(pool):
            title_words = titles.get(int(snap.ids[row]), frozenset())
            if not title_words:
                continue
            overlap = len(title_words & words) / len(title_words)
            score = overlap + (0.3 if row in in_order else 0.0) + \
                (0.15 if row in owned else 0.0) - rank * 0.001
            needed = 0.3 if (row in owned or row in in_order) else 0.6
            if overlap >= needed and (best is None or score > best[0]):
                best = (score, row)
        return best

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
        titles = self.store.title_words([int(snap.ids[r]) for r in rows])
        passing = []
        for row in rows:
            k, zz = kw.get(row, 0.0), z.get(row, 0.0)
            title_words = titles.get(int(snap.ids[row]), frozenset())
            # A word of the product's name in the message is a strong sign on its own,
            # however common the word is in the rest of the catalog.
            named = len({w for w in title_words & words if not w.isdigit()}) \
                / len(title_words) if title_words else 0.0
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
            shared = [w for w in shared if not any(w != o and w in o for o in shared)
                      and not w.isdigit()]
            reason = ("Matches " + ", ".join(f"“{w}”" for w in shared[:3])
                      + " in the customer's message") if shared else \
                "Close to what the customer describes"
            out.append((row, base, reason))
        return out

    def _around(self, referenced: int, owned_variant: str, text: str, snap: Snapshot,
                offer, weights: dict[str, float], *, owned: bool, intent: str,
                sold_out: bool) -> None:
        """Variants, the product itself or its parts, and substitutes for ``referenced``."""
        from core.kb.keyword import tokenize

        product = self.store.product(snap.handles[referenced])
        if product is None:
            return
        words = set(tokenize(text))
        others = [v for v in product.variants if v.in_stock and v.title
                  and v.title != owned_variant]
        replacement = asks_replacement(text)
        if others and "variant" in weights and (intent in VARIANT_INTENTS or replacement
                                                or not (owned or asks_other(text))):
            had = option_words(owned_variant) if owned_variant else set()

            def fit(variant) -> float:
                # Named in the message, and unlike what they have ("a Large" when they
                # have a Medium, both words in the thread).
                parts = option_words(variant.title)
                if not parts:
                    return 0.0
                return (len(parts & words) - 0.5 * len(parts & had & words)) / len(parts)
            choice = max(others, key=fit)
            if fit(choice) > 0 or len(product.variants) > 1:
                stock = f" ({choice.inventory} in stock)" if choice.inventory is not None \
                    else " (in stock)"
                offer(referenced, "variant", 0.6 + 0.4 * fit(choice),
                      f"{product.title}: {choice.title}{stock}"
                      + (f", instead of {owned_variant}" if owned_variant else ""),
                      variant=choice.title, owned_ok=True)
        # The same again is for a broken or wrong item, not for an exchange or a return.
        if "replacement" in weights and intent not in ("exchange", "return_refund"):
            same = next((v for v in product.variants if v.title == owned_variant
                         and v.in_stock), None)
            if same is not None or (not owned_variant and product.in_stock):
                # The whole product again only when asked; else a part comes first.
                offer(referenced, "replacement", 0.9 if replacement else 0.55,
                      f"A replacement {product.title}"
                      + (f" ({owned_variant})" if owned_variant else "") + " is in stock",
                      variant=owned_variant if same is not None else "", owned_ok=True)
        if "substitute" in weights and (not owned or sold_out or not product.in_stock
                                        or intent in VARIANT_INTENTS or replacement):
            why = "out of stock" if not product.in_stock else \
                "sold out in that size or colour" if sold_out else (
                    "damaged" if intent == "damaged_item" else "in question")
            self._substitutes(referenced, product, snap, offer, weights, why,
                              lift=sold_out or not product.in_stock)

    @staticmethod
    def _substitutes(row_of_product: int, product: Product | None, snap: Snapshot, offer,
                     weights: dict[str, float], why: str, *, lift: bool) -> None:
        """Products of the same type and currency at a close price, nearest first."""
        referenced = row_of_product
        if product is None or not snap.types[referenced] or np.isnan(snap.price[referenced]):
            return
        base_price = snap.price[referenced]
        same_type = snap.type_codes == snap.type_codes[referenced]
        same_currency = snap.currency_codes == snap.currency_codes[referenced]
        close = np.abs(snap.price - base_price) <= PRICE_BAND * base_price
        rows = np.flatnonzero(same_type & same_currency & close & snap.in_stock
                              & snap.published)
        rows = rows[rows != referenced]
        if not len(rows):
            return
        if snap.vectors is not None and snap.embedded[referenced]:
            closeness = snap.vectors[rows] @ snap.vectors[referenced]
        else:
            closeness = 1.0 - np.abs(snap.price[rows] - base_price) / base_price
        # A customer who cannot have what they asked for is best served by the nearest
        # alternative: it ranks with what fits the conversation best.
        factor = 1.0 / max(weights.get("substitute", 1.0), 0.1) if lift else 1.0
        for row, near in sorted(zip(rows, closeness), key=lambda x: -x[1])[:4]:
            offer(int(row), "substitute", (0.5 + 0.4 * float(near)) * factor,
                  f"Same type as {product.title} ({why}): "
                  f"{format_price(snap.price[row], snap.currency[row])} vs "
                  f"{format_price(base_price, snap.currency[referenced])}")

    def _fits(self, row: int, snap: Snapshot, from_titles: set[str]) -> bool:
        """A part fits what the customer has when its name shares a word with it."""
        if not from_titles:
            return False
        title = self.store.title_words([int(snap.ids[row])]).get(int(snap.ids[row]),
                                                                 frozenset())
        own = set(title) | {t for t in snap.tags[row] if t not in GENERIC_TAGS}
        return bool(own & from_titles)

    def _complements(self, owned: dict[int, str], referenced: int | None, snap: Snapshot,
                     offer, match_base: dict[int, float]) -> None:
        """What goes with the product in question, else with what the customer owns; a
        complement the message also asks for ranks higher."""
        anchors = [referenced] if referenced is not None else list(owned)[:10]
        if not anchors:
            return
        ids = [int(snap.ids[r]) for r in anchors]
        row_of = snap.row_of()
        titles = self.store.titles(ids)
        anchor_types = {snap.types[r] for r in anchors if snap.types[r]}
        found = 0
        if referenced is None:
            for row, bought in owned.items():
                if snap.consumable[row]:         # they buy it again
                    offer(row, "refill", 0.7 + 0.3 * match_base.get(row, 0.0),
                          f"They buy this again: last on {bought}")
        for pid, together, with_pid in self.store.co_purchased(ids, limit=30):
            row = row_of.get(pid)
            if row is None:
                continue
            consumable = bool(snap.consumable[row])
            with_title = titles.get(with_pid, "what they bought")
            bought = owned.get(row_of.get(with_pid, -1), "")
            kind = "refill" if consumable else "complement"
            reason = (f"Refill or part for the {with_title}" if consumable else
                      f"Often bought with the {with_title}") + \
                f" ({together} order{'s' if together != 1 else ''})" + \
                (f"; they bought it on {bought}" if bought and consumable else "")
            offer(row, kind, 0.45 + 0.15 * together + 0.3 * match_base.get(row, 0.0), reason)
            found += 1
        if found >= 3:
            return
        # Few orders to learn from: products sharing tags with theirs, of another type.
        for anchor in anchors[:3]:
            tags = snap.tags[anchor]
            if not tags:
                continue
            shared = snap.shared_tags(tags)
            for row in np.argsort(-shared)[:20]:
                if shared[row] == 0 or row == anchor or snap.types[row] in anchor_types:
                    continue
                common = sorted(tags & snap.tags[row])[:3]
                offer(int(row), "refill" if snap.consumable[row] else "complement",
                      0.35 + 0.1 * min(int(shared[row]), 3)
                      + 0.3 * match_base.get(int(row), 0.0),
                      f"Goes with the {titles.get(int(snap.ids[anchor]), 'product')} "
                      f"(tags: {', '.join(common)})")
