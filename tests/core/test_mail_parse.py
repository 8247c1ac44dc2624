"""Customer e-mail in every charset, encoding and breakage clients produce, decoded."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timezone
from email.message import EmailMessage

import pytest

from core.errors import TicketError
from core.mail.parse import decode_bytes, html_to_text, normalize_subject, parse_message

ZH = "您好，我的订单还没有发货，请尽快处理退款。"
ZH_HANT = "您好，我的訂單還沒有發貨，請盡快處理退款。"


def mail(body: bytes = b"Hello.\n", *, content_type: str = "text/plain; charset=utf-8",
         headers: str = "", cte: str = "8bit", extra: bytes = b"") -> bytes:
    """A raw message with the usual headers; ``headers`` replace them when given."""
    head = headers or ("From: Customer <customer@example.com>\n"
                       "To: support@shop.example\n"
                       "Subject: Order\n"
                       "Date: Mon, 01 Jan 2024 10:00:00 +0800\n"
                       "Message-ID: <m1@example.com>\n")
    head += f"MIME-Version: 1.0\nContent-Type: {content_type}\nContent-Transfer-Encoding: {cte}\n"
    return head.encode("utf-8") + extra + b"\n" + body


def b_word(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


# --- body charsets -------------------------------------------------------------------------


def test_utf8_body():
    msg = parse_message(mail(ZH.encode("utf-8")))
    assert msg.text == ZH
    assert msg.charset_note == ""
    assert not msg.html_only


def test_gb2312_body():
    msg = parse_message(mail(ZH.encode("gb2312"), content_type="text/plain; charset=gb2312"))
    assert msg.text == ZH
    assert msg.charset_note == ""


def test_gb2312_declared_with_gbk_only_characters_is_read_as_gb18030():
    text = "朱镕基的订单"  # 镕 is in GBK, not in GB2312
    msg = parse_message(mail(text.encode("gbk"), content_type="text/plain; charset=GB2312"))
    assert msg.text == text
    assert msg.charset_note == "declared gb2312, decoded as gb18030"


def test_gbk_body():
    text = "朱镕基：请退款"
    msg = parse_message(mail(text.encode("gbk"), content_type='text/plain; charset="gbk"'))
    assert msg.text == text
    assert msg.charset_note == ""


@pytest.mark.parametrize("declared", ["gb18030", "gbk"])
def test_gb18030_only_characters(declared):
    text = "吉野家的𠮷和€价格"  # 𠮷 needs four GB18030 bytes; € has no GBK code in Python
    raw = mail(text.encode("gb18030"), content_type=f"text/plain; charset={declared}")
    msg = parse_message(raw)
    assert msg.text == text
    expected = "" if declared == "gb18030" else f"declared {declared}, decoded as gb18030"
    assert msg.charset_note == expected


def test_big5_body():
    msg = parse_message(mail(ZH_HANT.encode("big5"), content_type="text/plain; charset=big5"))
    assert msg.text == ZH_HANT
    assert msg.charset_note == ""


def test_big5_with_hkscs_character():
    text = "唔該，幾時寄㗎？"  # 㗎 (Cantonese) is only in Big5-HKSCS
    msg = parse_message(mail(text.encode("big5hkscs"), content_type="text/plain; charset=big5"))
    assert msg.text == text
    assert msg.charset_note == "declared big5, decoded as big5hkscs"


def test_declared_utf8_but_gbk():
    msg = parse_message(mail(ZH.encode("gbk"), content_type="text/plain; charset=utf-8"))
    assert msg.text == ZH
    assert msg.charset_note == "declared utf-8 but was gb18030"


def test_declared_gbk_but_utf8():
    msg = parse_message(mail(ZH.encode("utf-8"), content_type="text/plain; charset=gbk"))
    assert msg.text == ZH
    assert msg.charset_note == "declared gbk but was utf-8"


@pytest.mark.parametrize("declared", ["iso-8859-1", "us-ascii"])
@pytest.mark.parametrize("actual", ["gbk", "utf-8"])
def test_declared_latin_or_ascii_but_chinese(declared, actual):
    msg = parse_message(mail(ZH.encode(actual), content_type=f"text/plain; charset={declared}"))
    assert msg.text == ZH
    found = "gb18030" if actual == "gbk" else actual
    assert msg.charset_note == f"declared {declared} but was {found}"


def test_real_latin1_stays_latin1():
    text = "Grüße aus München, café crème. “Quoted” – Müller"
    msg = parse_message(mail(text.encode("cp1252"), content_type="text/plain; charset=iso-8859-1"))
    assert msg.text == text
    assert msg.charset_note == ""


def test_no_charset_declared_gbk():
    msg = parse_message(mail(ZH.encode("gbk"), content_type="text/plain"))
    assert msg.text == ZH
    assert msg.charset_note == "no charset declared, decoded as gb18030"


@pytest.mark.parametrize("declared", ["x-unknown", "gb_2312-80", "rot13", '"utf-8'])
def test_unknown_or_odd_charset_names_do_not_crash(declared):
    msg = parse_message(mail(ZH.encode("gbk"), content_type=f"text/plain; charset={declared}"))
    assert msg.text == ZH
    assert msg.charset_note


def test_undecodable_bytes_become_replacement_characters():
    body = b"Order 42: " + bytes(range(0x80, 0x100)) * 4 + b"\x00\x01\x02 end"
    msg = parse_message(mail(body))
    assert msg.text.startswith("Order 42: ")
    assert "\ufffd" in msg.text
    assert "replaced" in msg.charset_note


def test_decode_bytes_keeps_plain_ascii_untouched():
    assert decode_bytes(b"plain", "utf-8") == ("plain", "")
    assert decode_bytes(b"plain", "") == ("plain", "")


# --- headers -------------------------------------------------------------------------------


def headers_with(subject: str, from_: str = "a@example.com") -> str:
    return (f"From: {from_}\nTo: support@shop.example\nSubject: {subject}\n"
            "Date: Mon, 01 Jan 2024 10:00:00 +0000\nMessage-ID: <h@example.com>\n")


def test_subject_gbk_b_encoding():
    msg = parse_message(mail(headers=headers_with(b_word("退款申请", "gbk"))))
    assert msg.subject == "退款申请"


def test_subject_utf8_q_encoding_with_adjacent_words():
    subject = "=?UTF-8?Q?=E9=80=80=E6=AC=BE_?=\n =?utf-8?q?for_order_42?="
    msg = parse_message(mail(headers=headers_with(subject)))
    assert msg.subject == "退款 for order 42"


def test_subject_multibyte_character_split_across_encoded_words():
    data = "退款".encode("gb2312")
    words = [f"=?gb2312?B?{base64.b64encode(part).decode()}?=" for part in (data[:1], data[1:])]
    msg = parse_message(mail(headers=headers_with(" ".join(words))))
    assert msg.subject == "退款"


def test_subject_big5_encoded_word_and_plain_text_around_it():
    msg = parse_message(mail(headers=headers_with(f"Re: {b_word('訂單查詢', 'big5')} #42")))
    assert msg.subject == "Re: 訂單查詢 #42"


@pytest.mark.parametrize("charset", ["utf-8", "gbk"])
def test_raw_8bit_subject_and_display_name(charset):
    head = ("From: 张三 <Zhang.San@Example.com>\nSubject: 我的订单   没到\n"
            "Date: Mon, 01 Jan 2024 10:00:00 +0000\nMessage-ID: <r@example.com>\n").encode(charset)
    msg = parse_message(head + b"\nhi\n")
    assert msg.subject == "我的订单 没到"
    assert (msg.from_name, msg.from_addr) == ("张三", "zhang.san@example.com")
    assert ("gb18030" in msg.charset_note) == (charset == "gbk")


def test_encoded_display_name_and_recipients():
    head = (f'From: "{b_word("李四", "utf-8")}" <LI@Example.com>\n'
            f"To: {b_word('客服', 'gbk')} <Support@Shop.example>, other@shop.example\n"
            "Cc: Boss <boss@shop.example>\nSubject: x\n"
            "Date: Mon, 01 Jan 2024 10:00:00 +0000\nMessage-ID: <n@example.com>\n")
    msg = parse_message(mail(headers=head))
    assert (msg.from_name, msg.from_addr) == ("李四", "li@example.com")
    assert msg.to == ("support@shop.example", "other@shop.example")
    assert msg.cc == ("boss@shop.example",)


def test_date_is_utc():
    msg = parse_message(mail())
    assert msg.date == datetime(2024, 1, 1, 2, 0, tzinfo=timezone.utc)


def test_missing_date():
    msg = parse_message(mail(headers="From: a@example.com\nSubject: s\nMessage-ID: <d@x>\n"))
    assert msg.date is None
    assert "no Date header" in msg.defects


def test_garbage_date():
    head = "From: a@example.com\nSubject: s\nMessage-ID: <d@x>\nDate: 下周一 sometime-ish\n"
    msg = parse_message(mail(headers=head))
    assert msg.date is None
    assert any(d.startswith("unreadable Date header") for d in msg.defects)


def test_missing_message_id_gives_a_stable_synthetic_id():
    raw = mail(headers="From: a@example.com\nSubject: s\nDate: Mon, 01 Jan 2024 10:00:00 +0000\n")
    first, again = parse_message(raw), parse_message(bytes(raw))
    other = parse_message(raw + b"more\n")
    assert first.message_id == again.message_id
    assert first.message_id.startswith("<") and first.message_id.endswith("@kefu.local>")
    assert other.message_id != first.message_id
    assert any("Message-ID" in d for d in first.defects)


def test_threading_headers():
    head = headers_with("Re: x") + ("In-Reply-To: <p2@example.com>\n"
                                     "References: <p1@example.com>\n <p2@example.com>\n")
    msg = parse_message(mail(headers=head))
    assert msg.message_id == "<h@example.com>"
    assert msg.in_reply_to == "<p2@example.com>"
    assert msg.references == ("<p1@example.com>", "<p2@example.com>")


def test_missing_from_and_malformed_header_are_defects_not_errors():
    raw = (b"Subject: broken\nDate: Mon, 01 Jan 2024 10:00:00 +0000\nMessage-ID: <b@x>\n"
           b"This line is no header\n\nBody text.\n")
    msg = parse_message(raw)
    assert msg.subject == "broken"
    assert (msg.from_name, msg.from_addr) == ("", "")
    assert "no From header" in msg.defects
    assert "a line in the header block is not a header" in msg.defects
    assert "Body text." in msg.text


def test_unparseable_from_address():
    msg = parse_message(mail(headers=headers_with("s", from_="客户 (no address)")))
    assert msg.from_addr == ""
    assert any(d.startswith("unreadable From address") for d in msg.defects)


# --- transfer encodings, HTML, attachments -------------------------------------------------


def test_quoted_printable_body():
    body = "Café order – 退款".encode("utf-8")
    import quopri

    msg = parse_message(mail(quopri.encodestring(body), cte="quoted-printable"))
    assert msg.text == "Café order – 退款"


def test_base64_body():
    body = base64.encodebytes(ZH.encode("gbk"))
    msg = parse_message(mail(body, content_type="text/plain; charset=gbk", cte="base64"))
    assert msg.text == ZH


def test_base64_with_broken_padding():
    body = base64.b64encode(ZH.encode("utf-8")).rstrip(b"=") + b"\n"
    msg = parse_message(mail(body, cte="base64"))
    assert msg.text == ZH


def test_html_only_becomes_safe_plain_text():
    html = ("<html><head><title>Mail</title><style>p {color: red}</style>"
            "<script>alert('stolen')</script></head><body>"
            "<p>Hello&nbsp;team,</p><div>my order <b>#42</b> &amp; refund<br>please</div>"
            "<img src=\"http://remote/track.png\"><script>document.write('x')</script>"
            "<ul><li>one</li><li>two</li></ul></body></html>")
    msg = parse_message(mail(html.encode(), content_type="text/html; charset=utf-8"))
    assert msg.html_only
    assert msg.text == "Hello team,\nmy order #42 & refund\nplease\none\ntwo"
    for absent in ("alert", "stolen", "document.write", "http://remote", "color", "<"):
        assert absent not in msg.text


def test_html_blockquote_is_quoted_history():
    assert html_to_text("<p>Thanks</p><blockquote><p>old</p><p>older</p></blockquote>") == \
        "Thanks\n> old\n> older"


def alternative(plain: str, html: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["Subject"] = "alt"
    msg.set_content(plain)
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def test_alternative_prefers_plain_text():
    msg = parse_message(alternative("Plain words\n", "<p>HTML words</p>"))
    assert msg.text == "Plain words\n"
    assert not msg.html_only


def test_alternative_with_empty_plain_uses_html():
    msg = parse_message(alternative("\n", "<p>HTML words</p>"))
    assert msg.text == "HTML words"
    assert msg.html_only


def test_attachments_are_listed_not_opened():
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["Subject"] = "invoice"
    msg.set_content("See attached.\n")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf",
                       filename=("utf-8", "", "发票 2024.pdf"))  # RFC 2231
    msg.add_attachment(b"\x89PNG fake image", maintype="image", subtype="png",
                       filename="photo.png", disposition="inline")
    parsed = parse_message(msg.as_bytes())
    assert parsed.text == "See attached.\n"
    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("发票 2024.pdf", "application/pdf", 13), ("photo.png", "image/png", 15)]


def test_forwarded_mail_is_an_attachment_and_nameless_inline_images_are_skipped():
    inner = EmailMessage()
    inner["Subject"] = "原订单"
    inner.set_content("订单内容")
    outer = EmailMessage()
    outer["From"] = "a@example.com"
    outer.set_content("See the forwarded mail.\n")
    outer.add_attachment(inner)
    outer.add_attachment(b"GIF89a logo", maintype="image", subtype="gif", disposition="inline")
    msg = parse_message(outer.as_bytes())
    assert msg.text == "See the forwarded mail.\n"
    assert [a.content_type for a in msg.attachments] == ["message/rfc822"]
    assert msg.attachments[0].size > 0


def test_rfc2047_gbk_attachment_name():
    boundary = "b1"
    raw = mail(content_type=f'multipart/mixed; boundary="{boundary}"', cte="7bit", body=(
        f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\nbody\n"
        f"--{boundary}\nContent-Type: application/octet-stream;"
        f" name=\"{b_word('订单截图.zip', 'gbk')}\"\n"
        f"Content-Disposition: attachment\nContent-Transfer-Encoding: base64\n\n"
        f"{base64.b64encode(b'12345').decode()}\n--{boundary}--\n").encode())
    msg = parse_message(raw)
    assert msg.text == "body"  # the line end before a boundary belongs to the boundary
    assert [(a.filename, a.size) for a in msg.attachments] == [("订单截图.zip", 5)]


def test_attachment_only_message():
    raw = mail(base64.encodebytes(b"x" * 300), cte="base64",
               content_type='application/pdf; name="order.pdf"',
               extra=b'Content-Disposition: attachment; filename="order.pdf"\n')
    msg = parse_message(raw)
    assert msg.text == ""
    assert msg.attachments == (msg.attachments[0],)
    assert (msg.attachments[0].filename, msg.attachments[0].size) == ("order.pdf", 300)


def test_truncated_multipart_keeps_what_is_there():
    raw = mail(content_type='multipart/mixed; boundary="zz"', cte="7bit",
               body=b"--zz\nContent-Type: text/plain; charset=utf-8\n\nHalf a mess")
    msg = parse_message(raw)
    assert msg.text == "Half a mess"
    assert msg.defects


def test_five_megabyte_body_parses_whole_and_fast():
    line = "Order 12345 did not arrive, please help. 订单没有到。\n"
    body = line * (5 * 1024 * 1024 // len(line.encode()) + 1)
    started = time.perf_counter()
    msg = parse_message(mail(body.encode("utf-8")))
    elapsed = time.perf_counter() - started
    assert msg.text == body
    assert msg.raw_size > 5 * 1024 * 1024
    assert elapsed < 30, f"took {elapsed:.1f}s: something is quadratic"


# --- quoted history ------------------------------------------------------------------------


@pytest.mark.parametrize("history", [
    "On Mon, Jan 1, 2024 at 10:00 AM Shop Support <support@shop.example> wrote:\n"
    "> Your order shipped.\n",
    "On Mon, Jan 1, 2024 at 10:00 AM Shop Support <support@shop.example>\nwrote:\n> Shipped.\n",
    "-----Original Message-----\nFrom: Support\nSent: Monday\nSubject: Order\n\nShipped.\n",
    "________________________________\nFrom: Support <s@shop.example>\n"
    "Sent: Monday, 1 January 2024\nTo: me\nSubject: Order\n",
    "> Your order shipped.\n> Tracking: 123\n",
    "-- \nJohn Smith\nACME Ltd.\n",
])
def test_quoted_history_in_english(history):
    own = "Thanks, but it has not arrived yet.\n\n"
    msg = parse_message(mail((own + history).encode()))
    assert msg.quoted_from == len(own)
    assert msg.text[msg.quoted_from:] == history


@pytest.mark.parametrize("history", [
    "在 2024年1月1日 10:00，客服 <support@shop.example> 写道：\n> 您的订单已发货。\n",
    "客服 <support@shop.example> 于2024年1月1日周一 10:00写道：\n> 已发货\n",
    "------------------ 原始邮件 ------------------\n发件人: \"客服\"<support@shop.example>\n",
    "发件人: 客服 <support@shop.example>\n发送时间: 2024年1月1日 10:00\n收件人: 我\n主题: 订单\n",
    "寄件者: 客服\n寄件日期: 2024年1月1日\n主旨: 訂單\n",
])
def test_quoted_history_in_chinese(history):
    own = "谢谢，但是还没收到。\n\n"
    msg = parse_message(mail((own + history).encode()))
    assert msg.quoted_from == len(own)


def test_no_quoted_history():
    assert parse_message(mail(b"Where is my order?\nFrom: Beijing, thanks.\n")).quoted_from is None


def test_quote_at_the_very_start_is_not_folded():
    text = "> Did it arrive?\n> Please check.\n\nYes it did, thanks.\n-- \nAnna\n"
    msg = parse_message(mail(text.encode()))
    assert msg.text[msg.quoted_from:] == "-- \nAnna\n"
    assert parse_message(mail(b"> only a quote\n> and more\n")).quoted_from is None


# --- threading keys and non-mail input -----------------------------------------------------


@pytest.mark.parametrize("subject, key", [
    ("Re: RE: 回复：Fwd: [Lumen] 退款", "[lumen] 退款"),
    ("RE[2]: FW: Order   #42", "order #42"),
    ("回覆： 轉寄：訂單", "訂單"),
    ("答复:转发: 转寄：退货", "退货"),
    ("[Shop] Re: [Shop] Where is it", "[shop] where is it"),
    ("Receipt: your order", "receipt: your order"),
    ("Re:", ""),
])
def test_normalize_subject(subject, key):
    assert normalize_subject(subject) == key


@pytest.mark.parametrize("raw", [b"", b"  \r\n\r\n", b":\n"])
def test_not_an_email(raw):
    with pytest.raises(TicketError, match="not an e-mail message"):
        parse_message(raw)


def test_random_binary_is_parsed_leniently():
    data = bytes((i * 131 + 7) % 256 for i in range(4096))
    msg = parse_message(data)
    assert msg.raw_size == 4096
    assert msg.defects
