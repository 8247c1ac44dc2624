"""Never lose work: the composer autosaves within a second of the last keystroke, so
after the process is killed with SIGKILL the ticket reopens with the exact text."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from core.inbox.store import Incoming, TicketStore
from core.paths import Workspace
from core.tickets import load_demo_tickets
from tests.conftest import ROOT

TEXT = "您好，王女士：退款已原路退回，预计3-5个工作日到账。Thanks for waiting!"


def _store_of_demo_tickets(home) -> None:
    store = TicketStore(Workspace.at(home).ensure().tickets_db)
    store.add_many(Incoming(message_id=f"<{t.id}@demo>", subject=t.subject,
                            text=t.last_customer_text, from_addr=f"{t.id}@example.com",
                            from_name=t.customer_name) for t in load_demo_tickets())
    store.close()


@pytest.mark.parametrize("queue", ["store", "demo"])
def test_a_killed_window_loses_nothing_typed_a_second_before(tmp_path, queue):
    home = tmp_path / "ws"
    if queue == "store":
        _store_of_demo_tickets(home)
    env = dict(os.environ, KEFU_HOME=str(home), PYTHONPATH=str(ROOT),
               QT_QPA_PLATFORM="offscreen")
    driver = ROOT / "tests" / "e2e" / "autosave_driver.py"
    proc = subprocess.Popen([sys.executable, str(driver), queue, "type", TEXT], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        typed, second = proc.stdout.readline().split()
        assert typed == "TYPED"
        time.sleep(1.0)        # the promise: saved within one second of the last key
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    shown = subprocess.run([sys.executable, str(driver), queue, "show"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    texts = json.loads(shown.stdout.strip().splitlines()[-1])
    assert len(texts) == len(load_demo_tickets())
    assert texts[second] == TEXT
    assert all(text == "" for ticket, text in texts.items() if ticket != second)
