"""Make Chinese render everywhere: use a system CJK font, else the bundled one."""

from __future__ import annotations

import logging

from PySide6.QtGui import QFont, QFontDatabase

from core.paths import resources_dir

log = logging.getLogger("kefu.app.fonts")

BUNDLED = "wqy-microhei.ttc"


def _cjk_families() -> list[str]:
    return QFontDatabase.families(QFontDatabase.WritingSystem.SimplifiedChinese)


def ensure_cjk_font(app) -> str:
    """Return the CJK family in use, loading the bundled font when the system has none."""
    families = _cjk_families()
    family = ""
    if families:
        family = families[0]
    else:
        path = resources_dir() / "fonts" / BUNDLED
        font_id = QFontDatabase.addApplicationFont(str(path))
        loaded = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
        if loaded:
            family = loaded[0]
        else:
            log.warning("No CJK font on this system and the bundled %s could not be loaded; "
                        "Chinese may show as boxes", path)
            return ""
    base = app.font()
    fallbacks = [f for f in base.families() if f != family]
    font = QFont(base)
    font.setFamilies([*fallbacks, family] if fallbacks else [base.family(), family])
    app.setFont(font)
    log.info("CJK font: %s", family)
    return family
