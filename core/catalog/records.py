"""The catalog's plain values: products with their variants, orders with their lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

# Tags (any case) that mark a product the customer buys again: refills, filters,
# replacement parts.  Owning one never excludes it from recommendations.
CONSUMABLE_TAGS = frozenset({"consumable", "consumables", "refill", "replacement part",
                             "spare part", "耗材", "配件耗材", "替换装", "补充装"})


@dataclass(frozen=True)
class Variant:
    sku: str
    title: str = ""                       # "Queen / Sage Green"; "" for a single variant
    price: Decimal | None = None
    compare_at: Decimal | None = None
    currency: str = ""
    inventory: int | None = None          # None: not tracked, always available
    policy: str = "deny"                  # "continue": sells when out of stock

    @property
    def in_stock(self) -> bool:
        return self.inventory is None or self.inventory > 0 or self.policy == "continue"


@dataclass(frozen=True)
class Product:
    handle: str
    title: str
    description: str = ""                 # plain text (HTML bodies are converted)
    vendor: str = ""
    type: str = ""
    tags: tuple[str, ...] = ()
    published: bool = True
    images: tuple[str, ...] = ()          # paths or links, kept, never fetched
    variants: tuple[Variant, ...] = ()
    source: str = ""                      # "file.csv:12"

    @property
    def consumable(self) -> bool:
        return any(t.lower() in CONSUMABLE_TAGS for t in self.tags)

    @property
    def in_stock(self) -> bool:
        return any(v.in_stock for v in self.variants)

    @property
    def stock(self) -> int | None:
        """Units on hand over the tracked variants; None when none is tracked."""
        tracked = [max(v.inventory, 0) for v in self.variants if v.inventory is not None]
        return sum(tracked) if tracked else None

    def search_text(self) -> str:
        """What keyword and semantic search read: who, what, which options."""
        options = " ".join(sorted({v.title for v in self.variants if v.title}))
        parts = [self.title, self.type, " ".join(self.tags), self.vendor, options,
                 self.description[:600]]
        return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class OrderLine:
    sku: str
    name: str
    quantity: int = 1
    price: Decimal | None = None


@dataclass(frozen=True)
class Order:
    number: str
    email: str = ""
    phone: str = ""
    customer: str = ""
    created: str = ""                     # ISO 8601
    currency: str = ""
    total: Decimal | None = None
    status: str = ""                      # "paid", "refunded", "cancelled"...
    lines: tuple[OrderLine, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Skipped:
    where: str                            # "file.csv:12" or "file.csv"
    reason: str

    def to_json(self) -> dict:
        return {"where": self.where, "reason": self.reason}


@dataclass
class ImportSummary:
    """What an import did; ``skipped`` says where and why."""
    file: str
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    encoding: str = ""
    format: str = ""
    seconds: float = 0.0

    @property
    def kept(self) -> int:
        """Rows of the file now in the store: new, updated or already there."""
        return self.imported + self.updated + self.unchanged

    def to_json(self) -> dict:
        return {"file": self.file, "format": self.format, "encoding": self.encoding,
                "imported": self.imported, "updated": self.updated,
                "unchanged": self.unchanged,
                "skipped": [s.to_json() for s in self.skipped],
                "warnings": self.warnings, "seconds": round(self.seconds, 2)}
