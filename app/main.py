"""Start the desktop app: crash handler and logging first, the window second,
the model (and every heavy ML import) last, on the model's own thread."""

from __future__ import annotations

import logging
import os
import sqlite3
import sys

from core.cli import Context
from core.engine import LlamaEngine
from core.errors import KefuError
from core.logsetup import setup_logging
from core.models import default_model_path, discover
from core.paths import resources_dir
from core.tickets import load_demo_tickets

log = logging.getLogger("kefu.app")



def _no_display() -> bool:
    """Qt aborts the process when it finds no display; say so clearly instead."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _start_mail(window, ctx: Context) -> list[str]:
    """Poll the store's mailbox in the background when one is set up; what stops it."""
    settings = ctx.settings
    if not (settings.mail_address and settings.imap_host):
        return []
    from core import secrets
    from core.inbox.mailclient import MailAccount

    try:
        account = MailAccount.from_settings(settings)
        password = secrets.get_password(account.key)
    except KefuError as exc:
        return [f"The mailbox is not being checked: {exc}"]
    if password is None:
        return [f"The mailbox is not being checked: there is no password for {account.key} "
                f"in the OS keyring (run `kefu mail password`)."]
    window.start_mail(account, password, interval=settings.mail_poll_seconds)
    return []


def _open_queue(ctx: Context, problems: list[str]):
    """The workspace's ticket store (imported files, the mailbox); the demo tickets while
    it is empty and no mailbox is set up."""
    from core.inbox.queue import MemoryQueue, StoreQueue

    try:
        queue = StoreQueue(ctx.workspace.tickets_db)
    except (KefuError, OSError, sqlite3.Error) as exc:
        problems.append(f"The ticket store could not be read: {exc}")
        queue = None
    if queue is not None and (not queue.is_empty() or ctx.settings.mail_address):
        return queue
    if queue is not None:
        queue.close()
    try:
        tickets = load_demo_tickets()
    except KefuError as exc:
        problems.append(f"The demo tickets could not be read: {exc}")
        tickets = []
    return MemoryQueue(tickets, ctx.workspace.drafts_file)


def run_app(ctx: Context) -> int:
    setup_logging(log_dir=ctx.workspace.log_dir, verbose=ctx.args.verbose)
    if _no_display():
        print("kefu: error: no display found (DISPLAY and WAYLAND_DISPLAY are unset). Run Kefu "
              "on a desktop session, or set QT_QPA_PLATFORM=offscreen for a headless run.",
              file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication

    from app.crash import CrashHandler
    from app.fonts import ensure_cjk_font
    from app.mainwindow import MainWindow

    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    qapp.setApplicationName("Kefu Assist")
    qapp.setOrganizationName("KefuAssist")
    from PySide6.QtGui import QIcon

    qapp.setWindowIcon(QIcon(str(resources_dir() / "icons" / "kefu.png")))
    crash = CrashHandler().install()
    ensure_cjk_font(qapp)

    problems = []
    queue = _open_queue(ctx, problems)
    model_path = None
    first_run = False
    try:
        model_path = str(ctx.args.model or default_model_path(ctx.workspace,
                                                              ctx.settings.model_path))
    except KefuError as exc:
        found = discover(ctx.workspace)
        first_run = not any(entry.usable for entry in found)
        # The core's message names CLI commands; with nothing found at all, a window user
        # is pointed at the menu instead (unusable files keep the message naming them).
        problems.append("No language model is installed yet: Model ▸ Import GGUF file… adds "
                        "one from this computer." if not found else str(exc))

    from core.analysis.isolated import ProcessAnalyzer
    from core.catalog.service import open_recommender
    from core.kb.service import open_kb

    window = MainWindow(workspace=ctx.workspace, settings=ctx.settings, tickets=queue,
                        engine_factory=LlamaEngine, model_path=model_path,
                        kb_factory=lambda: open_kb(ctx.workspace, ctx.settings, isolated=True),
                        analyzer_factory=lambda: ProcessAnalyzer(ctx.workspace.models_dir),
                        recommender_factory=lambda: open_recommender(ctx.workspace, ctx.settings,
                                                                     isolated=True))
    crash.add_saver(window.save_drafts)
    window.show()
    problems += _start_mail(window, ctx)
    for problem in problems:
        window.show_note(problem, error=True)
    if first_run and not getattr(ctx.args, "self_test", False):
        window.offer_first_run()
    qapp.processEvents()  # paint the window before the model thread starts importing
    if getattr(ctx.args, "self_test", False):
        from app.selftest import SelfTest

        test = SelfTest(window, problems=problems,
                        report_file=getattr(ctx.args, "report", None))
        window.start_loading()
        qapp.exec()
        crash.uninstall()
        return test.finish()
    window.start_loading()
    code = qapp.exec()
    crash.uninstall()
    return code
