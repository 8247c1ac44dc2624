"""Logging for the CLI and the app: one format, loggers named by subsystem."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(*, log_dir: Path | None, verbose: bool = False,
                  console_level: int = logging.WARNING) -> Path | None:
    """Log to stderr (warnings, or everything with ``verbose``) and to a rotating file."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_kefu", False):
            root.removeHandler(handler)
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if verbose else console_level)
    console.setFormatter(logging.Formatter("kefu: %(levelname)s: %(message)s"))
    console._kefu = True  # type: ignore[attr-defined]
    root.addHandler(console)
    log_file = None
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            log_file = log_dir / "kefu.log"
            handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
            handler.setFormatter(logging.Formatter(FORMAT))
            handler._kefu = True  # type: ignore[attr-defined]
            root.addHandler(handler)
        except OSError as exc:
            logging.getLogger("kefu").warning("Cannot write logs to %s: %s", log_dir, exc)
            log_file = None
    return log_file
