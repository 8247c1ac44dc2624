from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QApplication

from app.fonts import ensure_cjk_font


def test_a_cjk_font_is_available(qapp):
    family = ensure_cjk_font(QApplication.instance())
    assert family
    assert family in QFontDatabase.families(QFontDatabase.WritingSystem.SimplifiedChinese)
    assert family in QApplication.instance().font().families()
