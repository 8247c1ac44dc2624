"""The catalog: prices, Shopify and generic imports, orders, and the store's queries."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from core.catalog.prices import format_price, parse_price
from core.catalog.readers import html_to_text, phone_key
from core.catalog.store import CatalogStore
from core.errors import CatalogError
from tests.catalogfixtures import (ORDER_HEADER, PRODUCT_HEADER, catalog_rows, write_catalog,
                                   write_csv)


@pytest.mark.parametrize("text, amount, currency", [
    ("¥1,299.00", "1299.00", "CNY"), ("1.299,00 €", "1299.00", "EUR"),
    ("$12.50", "12.50", "USD"), ("RMB 459", "459", "CNY"), ("1 299,00 kr", "1299.00", "SEK"),
    ("12,5", "12.5", ""), ("1.299", "1299", ""), ("459元", "459", "CNY"),
    ("€ 1.234.567,89", "1234567.89", "EUR"), ("HK$88", "88", "HKD"), ("0.99", "0.99", ""),
])
def test_prices_parse_as_shops_write_them(text, amount, currency):
    assert parse_price(text) == (Decimal(amount), currency)


@pytest.mark.parametrize("text", ["abc", "12 apples", "1.2.3,4,5", "$"])
def test_text_that_is_no_price_is_refused(text):
    with pytest.raises(CatalogError, match="not a price"):
        parse_price(text)


def test_prices_format_with_their_currency():
    assert format_price(Decimal("1299"), "CNY") == "¥1,299.00"
    assert format_price(Decimal("249.99"), "USD") == "$249.99"
    assert format_price(Decimal("3"), "CHF") == "3.00 CHF"
    assert format_price(None, "USD") == ""


def test_html_bodies_become_text():
    assert html_to_text("<p>Soft &amp; warm.</p><ul><li>Cotton</li><li>Washable</li></ul>"
                        "<script>x()</script>") == "Soft & warm.\n- Cotton\n- Washable"


def test_phone_numbers_match_however_written():
    assert phone_key("+86 138 0013 8000") == phone_key("13800138000")
    assert phone_key("+1 (555) 010-2233") == phone_key("555-010-2233")
    assert phone_key("12") == ""


@pytest.fixture
def store(tmp_path):
    s = CatalogStore(tmp_path / "catalog.sqlite")
    yield s
    s.close()


def test_shopify_products_import_with_variants_images_and_text(store, tmp_path):
    products, _ = write_catalog(tmp_path / "in")
    summary = store.import_products(products, currency="USD")
    assert (summary.format, summary.imported, summary.skipped) == ("shopify", 12, [])
    kettle = store.product("harbor-kettle")
    assert kettle.description == ("1.7 L stainless electric kettle with auto shut-off.\n"
                                  "- Boil-dry protection\n- 360° base")
    assert kettle.images == ("https://cdn.example.com/kettle.jpg",
                             "https://cdn.example.com/kettle-2.jpg")
    assert kettle.tags == ("kettle", "kitchen", "tea")
    pajamas = store.product("flannel-pajamas")
    assert [(v.title, v.inventory, v.in_stock) for v in pajamas.variants] == [
        ("Medium / Navy Plaid", 4, True), ("Large / Navy Plaid", 0, False),
        ("Large / Forest Green Plaid", 6, True)]
    assert pajamas.variants[0].price == Decimal("54.00") and \
        pajamas.variants[0].currency == "USD"
    assert store.product("glass-kettle").variants[0].compare_at == Decimal("65.00")
    assert not store.product("prototype-toaster").published
    assert store.product("kettle-descaler").consumable
    assert not store.product("luna-lamp").in_stock


def test_reimport_updates_in_place(store, tmp_path):
    products, _ = write_catalog(tmp_path / "in")
    store.import_products(products, currency="USD")
    ids = {h: store.product_id(h) for h in ("harbor-kettle", "orb-lamp")}
    again = store.import_products(products, currency="USD")
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 12)
    rows = catalog_rows()
    for row in rows:
        if row["Handle"] == "harbor-kettle" and row["Variant Price"]:
            row["Variant Price"] = "64.00"
    changed = write_csv(tmp_path / "changed.csv", PRODUCT_HEADER, rows)
    result = store.import_products(changed, currency="USD")
    assert (result.imported, result.updated, result.unchanged) == (0, 1, 11)
    assert store.product("harbor-kettle").variants[0].price == Decimal("64.00")
    assert {h: store.product_id(h) for h in ids} == ids     # same rows, not new ones
    assert store.counts()["products"] == 12


def test_bad_shopify_rows_are_skipped_with_reasons(store, tmp_path):
    rows = catalog_rows()
    first = next(r for r in rows if r["Handle"] == "orb-lamp")
    rows.append({**first})                                   # the handle again, later
    empty = {**first, "Handle": "nameless", "Title": ""}
    rows.append(empty)
    bad_price = {**first, "Handle": "bad-price", "Variant Price": "call us"}
    rows.append(bad_price)
    path = write_csv(tmp_path / "bad.csv", PRODUCT_HEADER, rows)
    summary = store.import_products(path, currency="USD")
    reasons = [s.reason for s in summary.skipped]
    assert summary.imported == 12
    assert any("duplicate handle 'orb-lamp'" in r for r in reasons)
    assert any("nameless: empty Title" in r for r in reasons)
    assert any("'call us' is not a price" in r for r in reasons)
    assert all(":" in s.where for s in summary.skipped)      # file and line


def test_generic_gbk_csv_from_excel_with_chinese_columns(store, tmp_path):
    text = ("商品编码,款号,商品名称,规格,类目,标签,售价,划线价,库存\r\n"
            "LMZ-1-15,LMZ-1,纯棉床笠,1.5×2米 燕麦色,床品,床品、纯棉,\"￥1,299.00\",￥1599,3\r\n"
            "LMZ-1-18,LMZ-1,纯棉床笠,1.8×2米 燕麦色,床品,床品、纯棉,￥1399,,0\r\n"
            "LMZ-2,LMZ-2,硅胶圈密封盖,,厨房收纳,耗材,￥19.90,,100\r\n"
            "LMZ-3,LMZ-3,,,床品,,￥10,,1\r\n")
    path = tmp_path / "商品.csv"
    path.write_bytes(text.encode("gbk"))
    summary = store.import_products(path)
    assert (summary.format, summary.imported) == ("generic", 2)
    assert summary.encoding in ("gb18030", "gbk")
    assert [s.reason for s in summary.skipped] == ["LMZ-3: empty title"]
    sheet = store.product("LMZ-1")
    assert sheet.title == "纯棉床笠" and sheet.tags == ("床品", "纯棉")
    assert [(v.sku, v.title, v.price, v.currency, v.inventory) for v in sheet.variants] == [
        ("LMZ-1-15", "1.5×2米 燕麦色", Decimal("1299.00"), "CNY", 3),
        ("LMZ-1-18", "1.8×2米 燕麦色", Decimal("1399"), "CNY", 0)]
    assert sheet.variants[0].compare_at == Decimal("1599")
    assert store.product("LMZ-2").consumable


def test_generic_json_with_a_column_mapping(store, tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([
        {"Item": "Bamboo Bath Mat", "Code": "BM-1", "Cost": "1.299,00 €", "Left": 4},
        {"Item": "Cotton Towel", "Code": "TW-1", "Cost": "12,50 €", "Left": 0},
        {"Item": "Cotton Towel again", "Code": "TW-1", "Cost": "12,50 €", "Left": 0},
    ]), encoding="utf-8")
    with pytest.raises(CatalogError) as missing:
        store.import_products(path)
    message = str(missing.value)
    assert "required columns missing" in message and "title" in message \
        and "price" in message and "Item, Code, Cost, Left" in message
    summary = store.import_products(path, mapping={"title": "Item", "sku": "Code",
                                                   "price": "Cost", "inventory": "Left"})
    assert summary.imported == 2
    assert summary.skipped[0].reason.startswith("duplicate")
    mat = store.product("BM-1")
    assert (mat.variants[0].price, mat.variants[0].currency) == (Decimal("1299.00"), "EUR")
    with pytest.raises(CatalogError, match="no such column"):
        store.import_products(path, mapping={"title": "Name"})


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"\x00\x01\x02binary\x00" * 100, "binary"),
    (b"just one line of prose\n", "does not look like a table"),
])
def test_unusable_files_say_why(store, tmp_path, content, message):
    path = tmp_path / "catalog.csv"
    path.write_bytes(content)
    with pytest.raises(CatalogError, match=message):
        store.import_products(path)


def test_mixed_currencies_are_noted(store, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("sku,title,price\nA,Alpha,$10\nB,Beta,¥70\n", encoding="utf-8")
    summary = store.import_products(path)
    assert summary.imported == 2
    assert any("2 currencies (CNY, USD)" in w for w in summary.warnings)


def test_orders_link_to_products_and_customers(store, tmp_path):
    products, orders = write_catalog(tmp_path / "in")
    # Orders first: their lines are linked once the products arrive.
    early = store.import_orders(orders)
    assert (early.format, early.imported) == ("shopify", 9)
    assert any("name no product" in w for w in early.warnings)
    store.import_products(products, currency="USD")
    history = store.customer_orders(email="ANA@example.com")
    assert [o.number for o in history] == ["LM1002", "LM1001"]      # newest first
    assert history[0].lines[0].handle == "flannel-pajamas"
    assert history[1].total == Decimal("89.00") and history[1].currency == "USD"
    by_phone = store.customer_orders(phone="138-0013-8000")
    assert [o.lines[0].handle for o in by_phone] == ["luna-lamp"]
    gus = store.customer_orders(email="gus@example.com")[0]
    assert [ln.handle for ln in gus.lines] == [None, "linen-duvet"]  # unknown product kept
    coffee = store.product_id("aria-coffee-maker")
    together = store.co_purchased([coffee])
    assert together[0][:2] == (store.product_id("paper-filters"), 3)
    again = store.import_orders(orders)
    assert (again.imported, again.unchanged) == (0, 9)


def test_orders_need_a_customer_and_lines(store, tmp_path):
    path = tmp_path / "orders.csv"
    rows = [dict.fromkeys(ORDER_HEADER, "") for _ in range(2)]
    rows[0].update({"Name": "#1", "Lineitem name": "Thing", "Lineitem quantity": "1"})
    rows[1].update({"Name": "#2", "Email": "x@example.com", "Lineitem name": "Thing",
                    "Lineitem quantity": "two"})
    write_csv(path, ORDER_HEADER, rows)
    summary = store.import_orders(path)
    assert summary.imported == 0
    reasons = sorted(s.reason for s in summary.skipped)
    assert any("'two' is not a number" in r for r in reasons)
    assert any("no customer email or phone" in r for r in reasons)
    generic = tmp_path / "generic.csv"
    generic.write_text("when,who,what\n2026-01-01,x@example.com,Thing\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="number"):
        store.import_orders(generic)


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "catalog.sqlite"
    CatalogStore(path).close()
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(CatalogError, match="newer Kefu"):
        CatalogStore(path)


def test_a_corrupt_store_file_is_refused(tmp_path):
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(CatalogError, match="not a catalog database"):
        CatalogStore(path)


def test_the_keyword_index_ranks_like_bm25_and_is_rebuilt_when_products_change(store,
                                                                                   tmp_path):
    from core.catalog.keywords import keyword_index
    from core.kb.keyword import BM25, tokenize

    products, _ = write_catalog(tmp_path / "in")
    store.import_products(products, currency="USD")
    snap = store.snapshot(None)
    index = keyword_index(store, snap)

    def search(idx, words):
        return [(snap.handles[idx.ids[i]], round(s, 4)) for i, s in idx.search_words(words, 3)]

    hits = search(index, tokenize("electric kettle"))
    assert hits[0][0] == "harbor-kettle" and "glass-kettle" in [h for h, _ in hits]
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert index.search_words(["nothing-like-this"], 3) == []
    saved = store.path.with_name("catalog.keywords.npz")
    assert saved.is_file()
    key = {"products_version": store.products_version, "rows": len(snap.ids),
           "first": int(snap.ids[0]), "last": int(snap.ids[-1])}
    again = BM25.load(saved, key)
    assert again is not None and search(again, tokenize("electric kettle")) == hits
    assert BM25.load(saved, {**key, "products_version": -1}) is None     # stale
    # A new product: the saved index is stale and the next one knows the new word.
    extra = tmp_path / "extra.csv"
    extra.write_text("sku,title,price\nMUG-1,Stoneware Mug,$18\n", encoding="utf-8")
    store.import_products(extra, currency="USD")
    snap = store.snapshot(None)
    fresh = keyword_index(store, snap)
    assert [h for h, _ in search(fresh, ["stoneware"])] == ["MUG-1"]
    saved.write_bytes(b"damaged")
    assert search(keyword_index(store, snap), ["stoneware"])        # rebuilt, no error


def test_bm25_on_segmented_words_scores_as_on_raw_text():
    from core.kb.keyword import BM25, tokenize

    docs = [("a", "Electric kettle with auto shut-off"), ("b", "电热水壶 自动断电"),
            ("c", "Glass kettle, blue light"), ("d", "Linen duvet cover")]
    raw = BM25(docs)
    segmented = BM25(((i, " ".join(tokenize(t))) for i, t in docs), split=str.split)
    for query in ("electric kettle", "电热水壶", "kettle light"):
        assert raw.search(query, 4) == segmented.search(query, 4)
    assert raw.search("kettle", 4)[0][0] in ("a", "c")
    assert raw.max_score("kettle") > 0 and raw.max_score("absent") == 0
