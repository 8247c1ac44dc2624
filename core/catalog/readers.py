"""Read product catalogs and order histories: Shopify's CSV exports and a generic
CSV/JSON/JSONL format whose columns are found by name (English or Chinese) or given by
a mapping.

Readers yield ``Product``/``Order`` values and ``Skipped`` rows; they never stop at a bad
row.  A file that cannot be used at all (unreadable, not a table, required columns
missing) raises ``CatalogError`` with the reason, naming the missing columns.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterable, Iterator

from core.catalog.prices import parse_price
from core.catalog.records import Order, OrderLine, Product, Skipped, Variant
from core.errors import CatalogError, KbError
from core.fsutil import FileTooLarge, read_bounded

MAX_FILE_BYTES = 512 * 1024 * 1024
csv.field_size_limit(16 * 1024 * 1024)


# ---- decoding and tables ------------------------------------------------------------------
@dataclass
class Table:
    rows: list[dict[str, str]]            # header -> cell, header names stripped
    columns: list[str]
    encoding: str
    first_line: int = 2                   # file line of rows[0] (a CSV's header is line 1)


def read_table(path: Path) -> Table:
    """A CSV (any delimiter, any of the encodings Excel saves), JSON list or JSONL file."""
    try:
        data = read_bounded(path, MAX_FILE_BYTES)
    except FileTooLarge as exc:
        raise CatalogError(f"{path.name}: {exc.size:,} bytes is over the "
                           f"{MAX_FILE_BYTES:,}-byte limit; split the file.") from None
    except OSError as exc:
        raise CatalogError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    if not data.strip():
        raise CatalogError(f"{path.name} is empty.")
    from core.kb.textenc import decode_text

    try:
        text, encoding = decode_text(data, name=path.name)
    except KbError as exc:
        raise CatalogError(str(exc)) from None
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl") or text.lstrip().startswith(("[", "{")):
        return _json_table(path, text, encoding)
    return _csv_table(path, text, encoding)


def _csv_table(path: Path, text: str, encoding: str) -> Table:
    # The delimiter is the one the header line uses most (Excel writes ";" in locales
    # with a decimal comma); quoting is always Excel's.
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t|", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), csv.excel, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise CatalogError(f"{path.name} has no header row.") from None
    except csv.Error as exc:
        raise CatalogError(f"{path.name} is not a readable CSV file: {exc}.") from None
    columns = [h.strip() for h in header]
    if len([c for c in columns if c]) < 2:
        raise CatalogError(f"{path.name} does not look like a table: its first line has "
                           f"fewer than two column names.")
    rows = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                rows.append({})         # keeps line numbers right; readers skip it
                continue
            rows.append({name: (cells[i].strip() if i < len(cells) else "")
                         for i, name in enumerate(columns) if name})
    except csv.Error as exc:
        raise CatalogError(f"{path.name} line {reader.line_num}: {exc}.") from None
    return Table(rows, [c for c in columns if c], encoding)


def _json_table(path: Path, text: str, encoding: str) -> Table:
    docs: list = []
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            docs = json.loads(text)
        else:
            docs = [json.loads(line) if line.strip() else {} for line in text.splitlines()]
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path.name}: not valid JSON ({exc.msg}, line {exc.lineno}).") \
            from None
    if isinstance(docs, dict):
        docs = docs.get("products") or docs.get("orders") or [docs]
    columns: dict[str, None] = {}
    rows = []
    for doc in docs:
        if not isinstance(doc, dict):
            rows.append({})
            continue
        row = {str(k).strip(): _cell(v) for k, v in doc.items()}
        columns.update(dict.fromkeys(row))
        rows.append(row)
    return Table(rows, list(columns), encoding, first_line=1)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value).strip()


# ---- column mapping -----------------------------------------------------------------------
PRODUCT_FIELDS: dict[str, tuple[str, ...]] = {
    "handle": ("handle", "style", "style number", "product id", "product_id", "spu",
               "款号", "商品id", "商品ID", "货号", "spu编码"),
    "sku": ("sku", "variant sku", "variant_sku", "商品编码", "sku编码", "条码", "编码"),
    "title": ("title", "name", "product name", "product_name", "product", "商品名称",
              "名称", "标题", "商品标题", "品名"),
    "variant": ("variant", "variant title", "option", "options", "规格", "型号", "款式",
                "颜色尺码", "sku属性"),
    "price": ("price", "variant price", "sale price", "售价", "价格", "销售价", "单价",
              "现价"),
    "compare_at": ("compare at price", "compare_at_price", "compare_at", "original price",
                   "list price", "msrp", "划线价", "原价", "市场价"),
    "inventory": ("inventory", "stock", "qty", "quantity", "inventory qty",
                  "inventory_quantity", "库存", "库存数量", "可售库存"),
    "type": ("type", "product type", "product_type", "category", "类目", "分类", "类别",
             "品类"),
    "tags": ("tags", "标签", "关键词"),
    "vendor": ("vendor", "brand", "品牌", "厂商"),
    "description": ("description", "body", "body (html)", "body_html", "商品详情", "描述",
                    "详情", "简介", "商品描述"),
    "image": ("image", "image src", "image url", "image_url", "图片", "主图", "图片链接"),
    "currency": ("currency", "币种", "货币"),
    "status": ("status", "published", "状态", "上架状态"),
}
ORDER_FIELDS: dict[str, tuple[str, ...]] = {
    "number": ("order", "order number", "order_number", "order id", "order_id", "name",
               "订单号", "订单编号"),
    "email": ("email", "customer email", "e-mail", "邮箱", "电子邮箱"),
    "phone": ("phone", "customer phone", "mobile", "手机", "手机号", "电话", "联系电话"),
    "customer": ("customer", "customer name", "billing name", "客户", "收货人", "买家",
                 "姓名"),
    "created": ("created at", "created", "date", "order date", "下单时间", "创建时间",
                "日期"),
    "sku": ("sku", "lineitem sku", "商品编码", "货号"),
    "product": ("product", "item", "lineitem name", "product name", "商品名称", "商品"),
    "quantity": ("quantity", "qty", "lineitem quantity", "数量", "购买数量"),
    "price": ("price", "lineitem price", "unit price", "单价", "价格"),
    "currency": ("currency", "币种", "货币"),
    "total": ("total", "order total", "实付", "实付金额", "订单金额", "金额"),
    "status": ("status", "financial status", "订单状态", "状态"),
}


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", " ", name.strip().lower())


def resolve_columns(columns: list[str], fields: dict[str, tuple[str, ...]],
                    mapping: dict[str, str] | None) -> dict[str, str]:
    """field -> column: the explicit mapping first, then the known names."""
    by_norm = {_norm(c): c for c in columns}
    out: dict[str, str] = {}
    for field, column in (mapping or {}).items():
        if field not in fields:
            raise CatalogError(f"Unknown field {field!r} in the column mapping; fields are: "
                               f"{', '.join(fields)}.")
        if column not in columns and _norm(column) not in by_norm:
            raise CatalogError(f"The column mapping names {column!r} for {field}, but the "
                               f"file has no such column (it has: {', '.join(columns)}).")
        out[field] = column if column in columns else by_norm[_norm(column)]
    taken = set(out.values())
    for field, names in fields.items():
        if field in out:
            continue
        for name in names:
            column = by_norm.get(_norm(name))
            if column is not None and column not in taken:
                out[field] = column
                taken.add(column)
                break
    return out


def _require(path: Path, found: dict[str, str], columns: list[str],
             needs: Iterable[tuple[str, ...]], fields: dict[str, tuple[str, ...]]) -> None:
    missing = [alts for alts in needs if not any(a in found for a in alts)]
    if missing:
        names = "; ".join(" or ".join(f"{a} (e.g. {fields[a][0]!r})" for a in alts)
                          for alts in missing)
        raise CatalogError(f"{path.name}: required columns missing: {names}. The file has: "
                           f"{', '.join(columns) or 'no columns'}. Name them so, or pass a "
                           f"mapping such as --map title=\"Product Name\".")


# ---- cells --------------------------------------------------------------------------------
class _Text(HTMLParser):
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
             "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_to_text(body: str) -> str:
    if "<" not in body:
        return html.unescape(body).strip()
    parser = _Text()
    parser.feed(body)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line and line != "-")


def _tags(cell: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for tag in re.split(r"[,，、;；|]", cell):
        tag = tag.strip()
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


def _int(cell: str) -> int | None:
    cell = cell.strip().replace(",", "")
    if not cell:
        return None
    try:
        return int(float(cell))
    except ValueError:
        raise CatalogError(f"{cell!r} is not a number.") from None


def _bool(cell: str, default: bool = True) -> bool:
    value = cell.strip().lower()
    if not value:
        return default
    return value in ("true", "yes", "1", "active", "published", "上架", "在售", "是")


def _money(cell: str, currency: str) -> tuple[Decimal | None, str]:
    return parse_price(cell, default_currency=currency)


# ---- products -----------------------------------------------------------------------------
SHOPIFY_PRODUCT_COLUMNS = ("Handle", "Title", "Variant Price")


def is_shopify_products(columns: list[str]) -> bool:
    return all(c in columns for c in SHOPIFY_PRODUCT_COLUMNS)


@dataclass
class _Draft:
    handle: str
    title: str
    description: str
    vendor: str
    type: str
    tags: tuple[str, ...]
    published: bool
    images: list[str]
    variants: list[Variant]
    skus: set[str]
    source: str

    def build(self) -> Product:
        return Product(handle=self.handle, title=self.title, description=self.description,
                       vendor=self.vendor, type=self.type, tags=self.tags,
                       published=self.published, images=tuple(self.images),
                       variants=tuple(self.variants), source=self.source)


def read_products(path: Path, *, mapping: dict[str, str] | None = None,
                  currency: str = "") -> tuple[str, str, Iterator[Product | Skipped]]:
    """(format, encoding, products and skipped rows) of a catalog file."""
    table = read_table(path)
    if is_shopify_products(table.columns) and not mapping:
        return "shopify", table.encoding, _shopify_products(path, table, currency)
    found = resolve_columns(table.columns, PRODUCT_FIELDS, mapping)
    _require(path, found, table.columns, [("title",), ("price",), ("handle", "sku")],
             PRODUCT_FIELDS)
    return "generic", table.encoding, _generic_products(path, table, found, currency)


def _shopify_products(path: Path, table: Table, currency: str
                      ) -> Iterator[Product | Skipped]:
    current: _Draft | None = None
    done: dict[str, str] = {}             # handle -> where it was defined
    for offset, row in enumerate(table.rows):
        where = f"{path.name}:{table.first_line + offset}"
        if not row:
            continue
        handle = row.get("Handle", "").strip()
        if not handle:
            yield Skipped(where, "no Handle")
            continue
        if current is not None and handle != current.handle:
            if current.variants:
                yield current.build()
            else:
                yield Skipped(current.source, f"{current.handle}: no variant with a price")
            done[current.handle] = current.source
            current = None
        if current is None:
            if handle in done:
                yield Skipped(where, f"duplicate handle {handle!r} (first defined at "
                                     f"{done[handle]}); row ignored")
                continue
            title = row.get("Title", "").strip()
            if not title:
                yield Skipped(where, f"{handle}: empty Title")
                done[handle] = where
                continue
            status = row.get("Status", "").strip().lower()
            current = _Draft(
                handle=handle, title=title, description=html_to_text(row.get("Body (HTML)", "")),
                vendor=row.get("Vendor", ""), type=row.get("Type", "")
                or row.get("Product Category", "").rsplit(">", 1)[-1].strip(),
                tags=_tags(row.get("Tags", "")),
                published=_bool(row.get("Published", ""), True) and status in ("", "active"),
                images=[], variants=[], skus=set(), source=where)
        image = row.get("Image Src", "").strip()
        if image and image not in current.images:
            current.images.append(image)
        if not row.get("Variant Price", "").strip():
            continue                      # an image row
        try:
            variant = _shopify_variant(row, currency)
        except CatalogError as exc:
            yield Skipped(where, f"{handle}: {exc}")
            continue
        if variant.sku and variant.sku in current.skus:
            yield Skipped(where, f"{handle}: duplicate SKU {variant.sku!r}")
            continue
        current.skus.add(variant.sku)
        current.variants.append(variant)
    if current is not None:
        if current.variants:
            yield current.build()
        else:
            yield Skipped(current.source, f"{current.handle}: no variant with a price")


def _shopify_variant(row: dict[str, str], currency: str) -> Variant:
    values = [row.get(f"Option{i} Value", "").strip() for i in (1, 2, 3)]
    title = " / ".join(v for v in values if v and v != "Default Title")
    price, cur = _money(row.get("Variant Price", ""), currency)
    compare, _ = _money(row.get("Variant Compare At Price", ""), cur)
    tracked = row.get("Variant Inventory Tracker", "").strip()
    qty = _int(row.get("Variant Inventory Qty", ""))
    return Variant(sku=row.get("Variant SKU", "").strip(), title=title, price=price,
                   compare_at=compare, currency=cur,
                   inventory=qty if (tracked or qty is not None) else None,
                   policy=row.get("Variant Inventory Policy", "deny").strip() or "deny")


# What back offices write for "this product has one variant".
DEFAULT_VARIANT_NAMES = frozenset({"default", "default title", "默认", "默认规格", "标准", "-"})


def _generic_products(path: Path, table: Table, found: dict[str, str], currency: str
                      ) -> Iterator[Product | Skipped]:
    def get(row: dict[str, str], field: str) -> str:
        column = found.get(field)
        return row.get(column, "").strip() if column else ""

    drafts: dict[str, _Draft] = {}
    order: list[str] = []
    for offset, row in enumerate(table.rows):
        where = f"{path.name}:{table.first_line + offset}"
        if not row:
            continue
        sku = get(row, "sku")
        handle = get(row, "handle") or sku
        title = get(row, "title")
        if not handle:
            yield Skipped(where, "no handle or SKU")
            continue
        draft = drafts.get(handle)
        if draft is None and not title:
            yield Skipped(where, f"{handle}: empty title")
            continue
        try:
            price, cur = _money(get(row, "price"), get(row, "currency") or currency)
            compare, _ = _money(get(row, "compare_at"), cur)
            qty = _int(get(row, "inventory"))
        except CatalogError as exc:
            yield Skipped(where, f"{handle}: {exc}")
            continue
        if price is None:
            yield Skipped(where, f"{handle}: no price")
            continue
        option = get(row, "variant")
        if option.lower() in DEFAULT_VARIANT_NAMES:
            option = ""
        variant = Variant(sku=sku, title=option, price=price, compare_at=compare,
                          currency=cur, inventory=qty)
        if draft is None:
            status = get(row, "status")
            draft = _Draft(handle=handle, title=title,
                           description=html_to_text(get(row, "description")),
                           vendor=get(row, "vendor"), type=get(row, "type"),
                           tags=_tags(get(row, "tags")), published=_bool(status, True),
                           images=[], variants=[], skus=set(), source=where)
            drafts[handle] = draft
            order.append(handle)
        elif (sku and sku in draft.skus) or (not sku and any(
                v.title == variant.title for v in draft.variants)):
            yield Skipped(where, f"duplicate of {handle!r} "
                                 f"{'SKU ' + repr(sku) if sku else 'variant'} "
                                 f"(first at {draft.source})")
            continue
        elif title and title != draft.title and not found.get("handle"):
            # rows keyed by SKU alone: the same SKU twice with another title
            yield Skipped(where, f"duplicate SKU {handle!r} with another title")
            continue
        image = get(row, "image")
        if image and image not in draft.images:
            draft.images.append(image)
        draft.skus.add(sku)
        draft.variants.append(variant)
    for handle in order:
        yield drafts[handle].build()


# ---- orders -------------------------------------------------------------------------------
SHOPIFY_ORDER_COLUMNS = ("Name", "Lineitem name", "Lineitem quantity")


def phone_key(phone: str) -> str:
    """The last ten digits: the same number written +86 138…, 138… or (555) 010-…."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[-10:] if len(digits) >= 7 else ""


def iso_date(cell: str) -> str:
    cell = cell.strip()
    if not cell:
        return ""
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
                "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(cell, fmt).isoformat()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(cell.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return ""


def read_orders(path: Path, *, mapping: dict[str, str] | None = None,
                currency: str = "") -> tuple[str, str, Iterator[Order | Skipped]]:
    table = read_table(path)
    if all(c in table.columns for c in SHOPIFY_ORDER_COLUMNS) and not mapping:
        found = {"number": "Name", "email": "Email", "phone": "Phone",
                 "customer": "Billing Name", "created": "Created at",
                 "sku": "Lineitem sku", "product": "Lineitem name",
                 "quantity": "Lineitem quantity", "price": "Lineitem price",
                 "currency": "Currency", "total": "Total", "status": "Financial Status"}
        extra_phones = ("Billing Phone", "Shipping Phone")
        return "shopify", table.encoding, _orders(path, table, found, currency, extra_phones)
    found = resolve_columns(table.columns, ORDER_FIELDS, mapping)
    _require(path, found, table.columns,
             [("number",), ("email", "phone"), ("sku", "product")], ORDER_FIELDS)
    return "generic", table.encoding, _orders(path, table, found, currency, ())


def _orders(path: Path, table: Table, found: dict[str, str], currency: str,
            extra_phones: tuple[str, ...]) -> Iterator[Order | Skipped]:
    def get(row: dict[str, str], field: str) -> str:
        column = found.get(field)
        return row.get(column, "").strip() if column else ""

    heads: dict[str, dict] = {}
    lines: dict[str, list[OrderLine]] = {}
    for offset, row in enumerate(table.rows):
        where = f"{path.name}:{table.first_line + offset}"
        if not row:
            continue
        number = get(row, "number").lstrip("#")
        if not number:
            yield Skipped(where, "no order number")
            continue
        head = heads.get(number)
        if head is None:
            phone = get(row, "phone") or next((row.get(c, "").strip() for c in extra_phones
                                               if row.get(c, "").strip()), "")
            try:
                total, cur = _money(get(row, "total"), get(row, "currency") or currency)
            except CatalogError as exc:
                yield Skipped(where, f"order {number}: total {exc}")
                total, cur = None, get(row, "currency") or currency
            head = heads[number] = {
                "email": get(row, "email").lower(), "phone": phone,
                "customer": get(row, "customer"), "created": iso_date(get(row, "created")),
                "currency": cur, "total": total, "status": get(row, "status").lower(),
                "source": where}
            lines[number] = []
        elif not head["email"] and get(row, "email"):
            head["email"] = get(row, "email").lower()
        sku, name = get(row, "sku"), get(row, "product")
        if not sku and not name:
            yield Skipped(where, f"order {number}: a line with no SKU or product name")
            continue
        try:
            quantity = _int(get(row, "quantity"))
            price, _ = _money(get(row, "price"), head["currency"])
        except CatalogError as exc:
            yield Skipped(where, f"order {number}: {exc}")
            continue
        lines[number].append(OrderLine(sku=sku, name=name, quantity=quantity or 1,
                                       price=price))
    for number, head in heads.items():
        if not head["email"] and not phone_key(head["phone"]):
            yield Skipped(head["source"], f"order {number}: no customer email or phone")
            continue
        if not lines[number]:
            yield Skipped(head["source"], f"order {number}: no line items")
            continue
        yield Order(number=number, email=head["email"], phone=head["phone"],
                    customer=head["customer"], created=head["created"],
                    currency=head["currency"], total=head["total"], status=head["status"],
                    lines=tuple(lines[number]), source=head["source"])
