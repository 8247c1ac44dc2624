"""Run ``kefu`` with every non-loopback connection refused and recorded.

Usage: python netguard.py REPORT.json kefu-args...

Patches the socket layer before anything else is imported, so no library (llama.cpp
bindings, huggingface, telemetry of any kind) can connect out unseen.  The report
lists every attempt; the test asserts it is empty.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import socket
import sys

attempts: list[str] = []
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _loopback(host) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address) -> None:
    if isinstance(address, tuple) and address and not _loopback(address[0]):
        attempts.append(f"connect {address!r}")
        raise ConnectionRefusedError(f"netguard: connection to {address!r} refused")


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect_ex(self, address)


def _numeric(host) -> bool:
    try:
        ipaddress.ip_address(str(host).split("%")[0])
        return True
    except ValueError:
        return False


def getaddrinfo(host, *args, **kwargs):
    # Numeric addresses need no lookup; connect() judges them.
    if not _loopback(host) and not _numeric(host):
        attempts.append(f"resolve {host!r}")
        raise socket.gaierror(f"netguard: name lookup of {host!r} refused")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.getaddrinfo = getaddrinfo

report = sys.argv[1]


@atexit.register
def _write() -> None:
    with open(report, "w", encoding="utf-8") as handle:
        json.dump(attempts, handle)


if __name__ == "__main__":
    from app.launcher import main

    code = main(sys.argv[2:])
    _write()
    sys.exit(code)
