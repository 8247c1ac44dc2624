"""The first-run screen: no language model is installed yet.

The lean installer carries no GGUF (the full one does), and a user may also have removed
theirs.  Instead of a window that cannot draft and a note to read, this dialog says what
is missing and lets the user pick a GGUF file from disk; the main window then verifies
and copies it into the workspace's models folder (``core.models.import_model``) and loads
it.  Nothing is downloaded: Kefu never goes online for a model.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QLabel, QPushButton,
                               QVBoxLayout, QWidget)

from core.modelpack import DEFAULT_PACK


class FirstRunDialog(QDialog):
    """Asks for a GGUF file; ``model_chosen`` carries its path (not yet verified)."""

    model_chosen = Signal(str)

    def __init__(self, *, models_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a language model · 选择语言模型")
        self.setObjectName("firstRunDialog")
        size_gb = DEFAULT_PACK.size / 1e9
        text = QLabel(
            "<p><b>Kefu Assist drafts replies with a language model that runs on this "
            "computer. None is installed yet.</b></p>"
            "<p>Choose a model file in GGUF format. Kefu checks it, copies it to "
            f"<code>{html.escape(str(models_dir))}</code> and loads it; your tickets never "
            "leave this computer.</p>"
            f"<p>Recommended: <b>{html.escape(DEFAULT_PACK.description.split(':')[0])}</b> "
            f"(<code>{html.escape(DEFAULT_PACK.filename)}</code>, {size_gb:.1f} GB), which "
            "your IT department can provide. Any instruction-tuned GGUF works.</p>"
            "<p>客服助手在本机运行语言模型起草回复，目前尚未安装模型。请选择一个 GGUF 模型文件，"
            "客服助手会校验并复制到上述文件夹后加载；客户数据不会离开本机。</p>")
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        self.choose_button = QPushButton("Choose a GGUF file… · 选择模型文件…")
        self.choose_button.setDefault(True)
        self.choose_button.clicked.connect(self._choose)
        buttons = QDialogButtonBox()
        buttons.addButton(self.choose_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.later_button = buttons.addButton("Later · 稍后",
                                              QDialogButtonBox.ButtonRole.RejectRole)
        self.later_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)
        self.resize(560, 320)

    def ask_for_file(self) -> str:
        """The file dialog (a seam for tests)."""
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", "",
                                              "GGUF models (*.gguf);;All files (*)")
        return path

    def _choose(self) -> None:
        path = self.ask_for_file()
        if path:
            self.accept()
            self.model_chosen.emit(path)
