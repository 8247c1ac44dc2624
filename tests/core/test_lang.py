import pytest

from core.lang import detect_language


@pytest.mark.parametrize("text, expected", [
    ("Where is my order? It has been two weeks.", "en"),
    ("亲，我的订单怎么还没发货？", "zh"),
    ("請問我的訂單什麼時候會寄出？謝謝", "zh-Hant"),
    ("订单号 LM20261118-0423 的 blender 坏了，要退货 😡", "zh"),
    ("Order LM20261118-0423 please 谢谢", "en"),
    ("请问退货寄回地址是哪里？谢谢理解", "zh"),
    ("😀😀😀", "en"),
    ("", "en"),
])
def test_detect_language(text, expected):
    assert detect_language(text) == expected
