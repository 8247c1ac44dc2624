"""A small catalog and order history written for the tests, in Shopify's export formats.

Kettles (two, same type, close prices) and a descaler (consumable); a coffee maker and
its filters (consumable); a pajama set whose Large Navy Plaid is sold out while Large
Forest Green Plaid is not; a table lamp that is sold out and another in stock; a duvet
cover with pillowcases; a draft product that must never be suggested.
"""

from __future__ import annotations

import csv
from pathlib import Path

PRODUCT_HEADER = [
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags",
    "Published", "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value",
    "Option3 Name", "Option3 Value", "Variant SKU", "Variant Grams",
    "Variant Inventory Tracker", "Variant Inventory Qty", "Variant Inventory Policy",
    "Variant Fulfillment Service", "Variant Price", "Variant Compare At Price",
    "Variant Requires Shipping", "Variant Taxable", "Variant Barcode", "Image Src",
    "Image Position", "Image Alt Text", "Gift Card", "SEO Title", "SEO Description",
    "Variant Image", "Variant Weight Unit", "Variant Tax Code", "Cost per item", "Status"]

ORDER_HEADER = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at",
    "Accepts Marketing", "Currency", "Subtotal", "Shipping", "Taxes", "Total",
    "Discount Code", "Discount Amount", "Shipping Method", "Created at",
    "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem compare at price",
    "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable",
    "Lineitem fulfillment status", "Billing Name", "Billing Phone", "Phone"]


def _product(handle, title, body, ptype, tags, variants, *, published="true",
             status="active", image="", option1="Title", option2=""):
    """Rows of one product: ``variants`` are (option1, option2, sku, qty, price, compare)."""
    rows = []
    for i, (o1, o2, sku, qty, price, compare) in enumerate(variants):
        row = dict.fromkeys(PRODUCT_HEADER, "")
        row.update({"Handle": handle, "Option1 Value": o1, "Option2 Value": o2,
                    "Variant SKU": sku, "Variant Inventory Tracker": "shopify",
                    "Variant Inventory Qty": str(qty), "Variant Inventory Policy": "deny",
                    "Variant Price": price, "Variant Compare At Price": compare})
        if i == 0:
            row.update({"Title": title, "Body (HTML)": body, "Vendor": "Lumen", "Type": ptype,
                        "Tags": tags, "Published": published, "Option1 Name": option1,
                        "Option2 Name": option2, "Status": status, "Image Src": image,
                        "Image Position": "1" if image else ""})
        rows.append(row)
    return rows


def catalog_rows() -> list[dict]:
    d = "Default Title"
    rows = []
    rows += _product("harbor-kettle", "Harbor Electric Kettle",
                     "<p>1.7 L stainless <b>electric kettle</b> with auto shut-off.</p>"
                     "<ul><li>Boil-dry protection</li><li>360&deg; base</li></ul>",
                     "Kitchen Appliances", "kettle, kitchen, tea",
                     [(d, "", "LM-KA-1001", 12, "59.00", "")],
                     image="https://cdn.example.com/kettle.jpg")
    rows.append({**dict.fromkeys(PRODUCT_HEADER, ""), "Handle": "harbor-kettle",
                 "Image Src": "https://cdn.example.com/kettle-2.jpg", "Image Position": "2"})
    rows += _product("glass-kettle", "Clearview Glass Kettle",
                     "<p>Borosilicate glass electric kettle with blue light.</p>",
                     "Kitchen Appliances", "kettle, kitchen, glass",
                     [(d, "", "LM-KA-1002", 5, "49.00", "65.00")])
    rows += _product("kettle-descaler", "Kettle & Coffee Maker Descaler (4 sachets)",
                     "<p>Citric descaler for kettles and coffee makers.</p>",
                     "Kitchen Care", "consumable, kettle, coffee",
                     [(d, "", "LM-KC-2001", 80, "9.50", "")])
    rows += _product("aria-coffee-maker", "Aria Drip Coffee Maker",
                     "<p>10-cup drip coffee maker with a glass carafe.</p>",
                     "Coffee", "coffee, kitchen",
                     [(d, "", "LM-CO-3001", 7, "89.00", "")])
    rows += _product("paper-filters", "Paper Coffee Filters #4 (100)",
                     "<p>Unbleached cone filters that fit the Aria.</p>",
                     "Coffee Supplies", "consumable, coffee",
                     [(d, "", "LM-CO-3002", 200, "6.00", "")])
    rows += _product("flannel-pajamas", "Flannel Pajama Set",
                     "<p>Brushed cotton flannel pajamas.</p>", "Sleepwear", "sleepwear, flannel",
                     [("Medium", "Navy Plaid", "LM-SW-4001-M-N", 4, "54.00", ""),
                      ("Large", "Navy Plaid", "LM-SW-4001-L-N", 0, "54.00", ""),
                      ("Large", "Forest Green Plaid", "LM-SW-4001-L-G", 6, "54.00", "")],
                     option1="Size", option2="Color")
    rows += _product("luna-lamp", "Luna Ceramic Table Lamp",
                     "<p>Hand-glazed ceramic table lamp, linen shade.</p>", "Lighting",
                     "lamp, ceramic, bedroom",
                     [("Terracotta", "", "LM-LT-5001-T", 0, "129.00", ""),
                      ("Ivory", "", "LM-LT-5001-I", 0, "129.00", "")], option1="Color")
    rows += _product("orb-lamp", "Orb Glass Table Lamp",
                     "<p>Smoked glass globe table lamp with a dimmer.</p>", "Lighting",
                     "lamp, glass, bedroom",
                     [(d, "", "LM-LT-5002", 9, "119.00", "")])
    rows += _product("arc-floor-lamp", "Arc Floor Lamp",
                     "<p>Brass arc floor lamp, 2 m tall.</p>", "Lighting", "lamp, living room",
                     [(d, "", "LM-LT-5003", 3, "389.00", "")])
    rows += _product("linen-duvet", "Cloud Washed Linen Duvet Cover",
                     "<p>Stone-washed French linen duvet cover.</p>", "Bedding",
                     "bedding, linen",
                     [("Queen", "", "LM-BD-6001-Q", 10, "189.00", "")], option1="Size")
    rows += _product("linen-pillowcases", "Linen Pillowcase Pair",
                     "<p>Stone-washed linen pillowcases, set of two.</p>", "Bedding Accessories",
                     "bedding, linen",
                     [("Standard", "", "LM-BD-6002-S", 25, "49.00", "")], option1="Size")
    rows += _product("prototype-toaster", "Prototype Toaster",
                     "<p>Not for sale yet.</p>", "Kitchen Appliances", "kitchen",
                     [(d, "", "LM-KA-9999", 50, "39.00", "")], published="false",
                     status="draft")
    return rows


def order_rows() -> list[dict]:
    def order(number, email, created, lines, *, phone="", currency="USD"):
        out = []
        for i, (qty, name, price, sku) in enumerate(lines):
            row = dict.fromkeys(ORDER_HEADER, "")
            row.update({"Name": number, "Lineitem quantity": str(qty), "Lineitem name": name,
                        "Lineitem price": price, "Lineitem sku": sku})
            if i == 0:
                row.update({"Email": email, "Financial Status": "paid", "Currency": currency,
                            "Total": price, "Created at": created, "Billing Name": "A Customer",
                            "Phone": phone})
            out.append(row)
        return out

    coffee = (1, "Aria Drip Coffee Maker", "89.00", "LM-CO-3001")
    filters = (2, "Paper Coffee Filters #4 (100)", "6.00", "LM-CO-3002")
    duvet = (1, "Cloud Washed Linen Duvet Cover - Queen", "189.00", "LM-BD-6001-Q")
    pillows = (1, "Linen Pillowcase Pair - Standard", "49.00", "LM-BD-6002-S")
    rows = []
    rows += order("#LM1001", "ana@example.com", "2026-10-02 10:00:00 -0500", [coffee])
    rows += order("#LM1002", "ana@example.com", "2026-11-10 09:30:00 -0500",
                  [(1, "Flannel Pajama Set - Large / Navy Plaid", "54.00", "LM-SW-4001-L-N")])
    rows += order("#LM1003", "ben@example.com", "2026-09-01 12:00:00 -0500", [coffee, filters])
    rows += order("#LM1004", "cy@example.com", "2026-09-05 12:00:00 -0500", [coffee, filters])
    rows += order("#LM1005", "dee@example.com", "2026-09-07 12:00:00 -0500", [coffee, filters])
    rows += order("#LM1006", "eve@example.com", "2026-09-09 12:00:00 -0500", [duvet, pillows])
    rows += order("#LM1007", "fay@example.com", "2026-09-11 12:00:00 -0500", [duvet, pillows])
    rows += order("#LM1008", "", "2026-11-12 12:00:00 +0800",
                  [(1, "Luna Ceramic Table Lamp - Terracotta", "129.00", "LM-LT-5001-T")],
                  phone="+86 138 0013 8000")
    rows += order("#LM1009", "gus@example.com", "2026-11-15 12:00:00 -0500",
                  [(1, "Retired Teapot", "30.00", "LM-OLD-0001"), duvet])
    return rows


def write_csv(path: Path, header: list[str], rows: list[dict], *,
              encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_catalog(folder: Path) -> tuple[Path, Path]:
    """(products.csv, orders.csv) in Shopify's formats."""
    folder.mkdir(parents=True, exist_ok=True)
    return (write_csv(folder / "products.csv", PRODUCT_HEADER, catalog_rows()),
            write_csv(folder / "orders.csv", ORDER_HEADER, order_rows()))
