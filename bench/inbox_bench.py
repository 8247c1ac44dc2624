"""Ticket store speed: mbox import rate, opening a ticket and queue queries at 50,000
tickets.

    python bench/inbox_bench.py [--messages 10000] [--tickets 50000]

The mbox is generated: English and Chinese customer mail in UTF-8, GBK (base64) and
Big5 (quoted-printable), a third of it replies to earlier messages.  The 50,000-ticket
store is filled through the same ``TicketStore.add`` the importers use.
"""

from __future__ import annotations

import argparse
import base64
import json
import quopri
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.inbox.importers import import_files  # noqa: E402
from core.inbox.store import Incoming, TicketStore  # noqa: E402

EN = ["Where is my refund for order {n}?", "The kettle I bought leaks from the bottom.",
      "My coupon code did not apply at checkout.", "Can I change the delivery address?",
      "The lamp arrived with a cracked shade, please help."]
ZH = ["我的订单{n}的退款什么时候到账？", "买的电水壶底部漏水，怎么处理？", "优惠券在结算时用不了。",
      "可以修改收货地址吗？", "台灯到货时灯罩裂了，请帮忙处理。"]


def _message(i: int, rng: random.Random) -> bytes:
    zh = i % 2 == 1
    text = (rng.choice(ZH) if zh else rng.choice(EN)).format(n=1000 + i) + "\n" + \
        ("谢谢！" if zh else "Thanks,\nCustomer") + "\n" + "x" * rng.randint(50, 1500)
    subject = f"{'订单问题' if zh else 'Order question'} {i}"
    headers = [f"From: Customer {i % 3000} <c{i % 3000}@example.com>",
               "To: support@lumen.example", f"Message-ID: <m{i}@example.com>",
               f"Date: Mon, 23 Nov 2026 {i % 24:02d}:{i % 60:02d}:00 +0800"]
    if i > 10 and i % 3 == 0:
        parent = i - rng.randint(1, 10)
        headers.append(f"In-Reply-To: <m{parent}@example.com>")
        subject = ("回复：" if zh else "Re: ") + subject
    kind = i % 3
    if zh and kind == 1:
        body = base64.encodebytes(text.encode("gbk")).decode()
        enc, charset = "base64", "gbk"
    elif zh and kind == 2:
        big5 = text.replace("订单", "訂單").replace("电水壶", "電水壺")
        body = quopri.encodestring(big5.encode("big5", "replace")).decode()
        enc, charset = "quoted-printable", "big5"
    else:
        body = base64.encodebytes(text.encode("utf-8")).decode()
        enc, charset = "base64", "utf-8"
    subject_header = "=?utf-8?B?" + base64.b64encode(subject.encode()).decode() + "?="
    headers += [f"Subject: {subject_header}", "MIME-Version: 1.0",
                f"Content-Type: text/plain; charset={charset}",
                f"Content-Transfer-Encoding: {enc}"]
    return ("\n".join(headers) + "\n\n" + body).encode("ascii")


def import_rate(n: int) -> dict:
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        mbox = Path(tmp) / "inbox.mbox"
        with mbox.open("wb") as out:
            for i in range(n):
                out.write(b"From MAILER-DAEMON Mon Nov 23 10:00:00 2026\n")
                out.write(_message(i, rng) + b"\n\n")
        store = TicketStore(Path(tmp) / "tickets.sqlite")
        t0 = time.perf_counter()
        result = import_files(store, [mbox])
        seconds = time.perf_counter() - t0
        tickets = store.count_tickets()
        store.close()
        return {"messages": n, "mbox_mb": round(mbox.stat().st_size / 1e6, 1),
                "imported": result.messages, "tickets": tickets, "errors": len(result.errors),
                "seconds": round(seconds, 2), "messages_per_s": round(n / seconds)}


def _ms(fn, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 2)}


def fill_store(store: TicketStore, n: int, rng: random.Random) -> None:
    """``n`` tickets (half Chinese, a quarter with our reply) through ``TicketStore.add``."""
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    items = []
    for i in range(n):
        zh = i % 2 == 1
        text = (rng.choice(ZH) if zh else rng.choice(EN)).format(n=1000 + i)
        items.append(Incoming(message_id=f"<t{i}@x>", subject=f"{'订单' if zh else 'Order'} {i}",
                              text=text + " " + "y" * rng.randint(20, 600),
                              from_addr=f"c{i}@example.com", from_name=f"Customer {i}",
                              date=base + timedelta(minutes=i)))
        if i % 4 == 0:   # a reply in a quarter of the tickets
            items.append(Incoming(message_id=f"<t{i}r@x>", subject=f"Re: Order {i}",
                                  text="Thank you for writing to us.", direction="out",
                                  in_reply_to=f"<t{i}@x>",
                                  date=base + timedelta(minutes=i + 30)))
    store.add_many(items)


def large_store(n: int) -> dict:
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp:
        store = TicketStore(Path(tmp) / "tickets.sqlite")
        t0 = time.perf_counter()
        fill_store(store, n, rng)
        fill = time.perf_counter() - t0
        ids = [rng.randint(1, n) for _ in range(200)]
        it = iter(ids * 2)
        opened = _ms(lambda: (store.ticket(next(it)), store.messages(next(it))), 200)
        order: list[int] = []
        all_ids = _ms(lambda: order.__setitem__(slice(None), store.ticket_ids()), 10)
        windows = iter([(n * k) // 200 for k in range(200)])

        def window():
            start = next(windows)
            store.rows(order[start:start + 60])

        scroll = _ms(window, 200)
        out = {
            "tickets": store.count_tickets(), "fill_s": round(fill, 1),
            "open_ticket": opened,
            "queue_order_all_ids": all_ids,
            "scroll_window_of_60_rows": scroll,
            "first_page_waiting": _ms(lambda: store.list_tickets(limit=100), 30),
            "filter_status_lang_ids": _ms(lambda: store.ticket_ids(status="new", lang="zh"), 30),
            "search_en_word_ids": _ms(lambda: store.ticket_ids(search="kettle"), 20),
            "search_zh_4chars_ids": _ms(lambda: store.ticket_ids(search="收货地址"), 20),
            "search_zh_2chars_scan_ids": _ms(lambda: store.ticket_ids(search="退款"), 10),
        }
        store.close()
        return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--tickets", type=int, default=50000)
    args = parser.parse_args()
    print(json.dumps({"import": import_rate(args.messages),
                      "store": large_store(args.tickets)}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
