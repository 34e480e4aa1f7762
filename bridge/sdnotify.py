"""systemd's service notification protocol (``sd_notify``): one datagram to ``$NOTIFY_SOCKET``.

The daemon says ``READY=1`` after its first successful cycle and ``WATCHDOG=1`` after
every successful cycle, so systemd (``Type=notify``, ``WatchdogSec=``) restarts a
bridge that stopped completing cycles; while a cycle makes progress (cases done, Jira
answering its requests) it also says ``WATCHDOG=1`` (``EXTEND_TIMEOUT_USEC`` before
``READY=1``) every few seconds (:class:`bridge.commands.run.KeepAlive`).  Outside systemd ``NOTIFY_SOCKET`` is unset
and every call is a no-op.  Protocol: https://www.freedesktop.org/software/systemd/man/sd_notify.html
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

__all__ = ["notify", "watchdog_seconds"]


def notify(*lines: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``KEY=value`` lines (e.g. ``"READY=1"``, ``"STATUS=..."``); False when not under
    systemd or the socket is gone (never raises: a notification is not worth a crash)."""
    environ = os.environ if env is None else env
    address = environ.get("NOTIFY_SOCKET", "")
    if not address or not lines:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        return False
    message = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message)
    except OSError:
        return False
    return True


def watchdog_seconds(env: Mapping[str, str] | None = None) -> float | None:
    """``WatchdogSec=`` as systemd passes it (``WATCHDOG_USEC``), for this process; else None."""
    environ = os.environ if env is None else env
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6
