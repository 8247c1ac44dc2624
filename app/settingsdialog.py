"""The settings dialog, built from the settings' own declarations (type, bounds, help)."""

from __future__ import annotations

from dataclasses import fields

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QScrollArea,
                               QSpinBox, QVBoxLayout, QWidget)

from core.errors import ConfigError
from core.settings import Settings

# Settings that only take effect when the model is loaded again.
RELOAD_NEEDED = frozenset({"model_path", "n_ctx", "n_gpu_layers", "n_threads", "n_batch"})
_MULTILINE = frozenset({"persona", "reply_rules"})


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings · 设置")
        self.resize(640, 560)
        self._original = settings
        self._editors: dict[str, QWidget] = {}
        form = QFormLayout()
        for f in fields(Settings):
            meta = f.metadata
            value = getattr(settings, f.name)
            if isinstance(value, bool):      # before int: a bool is an int
                editor = QCheckBox()
                editor.setChecked(value)
            elif isinstance(value, int):
                editor = QSpinBox()
                editor.setRange(int(meta["minimum"] if meta["minimum"] is not None else -2**31),
                                int(meta["maximum"] if meta["maximum"] is not None else 2**31 - 1))
                editor.setValue(value)
            elif isinstance(value, float):
                editor = QDoubleSpinBox(decimals=2, singleStep=0.05)
                editor.setRange(meta["minimum"] or 0.0, meta["maximum"] or 1e9)
                editor.setValue(value)
            elif f.name in _MULTILINE:
                editor = QPlainTextEdit(value)
                editor.setMinimumHeight(80)
            else:
                editor = QLineEdit(value)
            editor.setToolTip(meta["help"])
            label = QLabel(f.name.replace("_", " ").capitalize())
            label.setToolTip(meta["help"])
            form.addRow(label, editor)
            self._editors[f.name] = editor
        inner = QWidget()
        inner.setLayout(form)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(inner)
        self.error_label = QLabel(wordWrap=True)
        self.error_label.setStyleSheet("color:#b00020")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.result_settings: Settings | None = None

    def editor(self, name: str) -> QWidget:
        return self._editors[name]

    def values(self) -> dict:
        out = {}
        for name, editor in self._editors.items():
            if isinstance(editor, QCheckBox):
                out[name] = editor.isChecked()
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                out[name] = editor.value()
            elif isinstance(editor, QPlainTextEdit):
                out[name] = editor.toPlainText()
            else:
                out[name] = editor.text()
        return out

    def _accept(self) -> None:
        try:
            self.result_settings = self._original.replace(**self.values())
        except ConfigError as exc:
            self.error_label.setText(str(exc))
            return
        self.accept()

    def needs_reload(self) -> bool:
        new = self.result_settings
        return new is not None and any(getattr(new, n) != getattr(self._original, n)
                                       for n in RELOAD_NEEDED)
