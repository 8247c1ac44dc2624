"""Draw Kefu Assist's icon and write it in every format the installers need.

    python packaging/icons/make_icons.py

Writes, beside this file: ``kefu.png`` (1024 px, also the source of the others),
``kefu.ico`` (Windows: 16 to 256 px) and ``kefu.icns`` (macOS: 16 to 1024 px), and
``resources/icons/kefu.png`` (256 px, the window icon).  The icon is drawn with Qt from
the bundled CJK font, so it is reproducible from the repository alone; the files are
checked in so that a build needs no display.  ICO and ICNS hold PNG images (Windows Vista
and macOS 10.7 on read them), written here by hand: Qt reads neither format without
its optional image plugins.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt  # noqa: E402
from PySide6.QtGui import (QColor, QFont, QFontDatabase, QGuiApplication, QImage,  # noqa: E402
                           QPainter, QPainterPath)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FONT = ROOT / "resources" / "fonts" / "wqy-microhei.ttc"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# ICNS entry types holding PNG data, by pixel size (the @2x types share sizes).
ICNS_TYPES = ((b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256),
              (b"ic09", 512), (b"ic10", 1024), (b"ic11", 32), (b"ic12", 64), (b"ic13", 256),
              (b"ic14", 512))


def draw(size: int, family: str) -> QImage:
    """A speech bubble in the brand's teal with 客 in white."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = size / 1024
    bubble = QPainterPath()
    bubble.addRoundedRect(QRectF(96 * s, 112 * s, 832 * s, 680 * s), 180 * s, 180 * s)
    tail = QPainterPath()
    tail.moveTo(300 * s, 760 * s)
    tail.lineTo(250 * s, 930 * s)
    tail.lineTo(470 * s, 780 * s)
    tail.closeSubpath()
    painter.fillPath(bubble.united(tail), QColor("#0f766e"))
    font = QFont(family)
    font.setPixelSize(int(520 * s))
    painter.setFont(font)
    painter.setPen(QColor("#ffffff"))
    painter.drawText(QRectF(96 * s, 112 * s, 832 * s, 680 * s), Qt.AlignmentFlag.AlignCenter,
                     "客")
    painter.end()
    return image


def png(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data)


def scaled(master: QImage, size: int) -> QImage:
    return master.scaled(size, size, Qt.AspectRatioMode.IgnoreAspectRatio,
                         Qt.TransformationMode.SmoothTransformation)


def write_ico(master: QImage, out: Path) -> None:
    images = [png(scaled(master, size)) for size in ICO_SIZES]
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, blobs = b"", b""
    for size, blob in zip(ICO_SIZES, images):
        side = 0 if size >= 256 else size          # 0 means 256 in an ICO directory
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(blob), offset)
        offset += len(blob)
        blobs += blob
    out.write_bytes(header + entries + blobs)


def write_icns(master: QImage, out: Path) -> None:
    body = b""
    for kind, size in ICNS_TYPES:
        blob = png(scaled(master, size))
        body += kind + struct.pack(">I", 8 + len(blob)) + blob
    out.write_bytes(b"icns" + struct.pack(">I", 8 + len(body)) + body)


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv)
    font_id = QFontDatabase.addApplicationFont(str(FONT))
    families = QFontDatabase.applicationFontFamilies(font_id)
    if not families:
        raise SystemExit(f"make_icons.py: cannot load {FONT}")
    master = draw(1024, families[0])
    (HERE / "kefu.png").write_bytes(png(master))
    write_ico(master, HERE / "kefu.ico")
    write_icns(master, HERE / "kefu.icns")
    window_icon = ROOT / "resources" / "icons" / "kefu.png"
    window_icon.parent.mkdir(parents=True, exist_ok=True)
    window_icon.write_bytes(png(scaled(master, 256)))
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
