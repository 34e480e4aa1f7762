"""``jsm-bridge demo``: what a newcomer runs first.

Starts the embedded Jira Service Management sandbox with the demo cases at the demo
world's own moment (`bridge.sandbox.seed.DEMO_NOW`, or ``--now``), shows
what a cycle would change (``plan``), runs a real cycle against it over HTTP,
prints the resulting table, then runs a second cycle to show that nothing is
written twice.  State goes to a fresh temporary file, so the demo is the same
every time; ``--keep`` leaves the sandbox running for ``plan``/``explain``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from bridge.commands._runtime import (
    EXIT_OK,
    CommandError,
    connect,
    default_tz,
    load_config,
    parse_now,
    setup_logging,
)
from bridge.commands.init import default_config
from bridge.commands.run import exit_code, summary_line
from bridge.discovery import find_config
from bridge.logs import complain
from bridge.sandbox import seed as seeds
from bridge.sandbox.server import SandboxServer
from bridge.sync.cycle import CycleReport, IssueOutcome


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _actions(outcome: IssueOutcome) -> str:
    """What the cycle did with the case, as it kept it of the case's plan."""
    return outcome.error or outcome.brief or "nothing"


def _due(outcome: IssueOutcome) -> str:
    if outcome.response_due is None:
        return "-"
    return outcome.response_due.strftime("%a %d %b %H:%M %Z")


def _organisation(outcome: IssueOutcome) -> str:
    """The case's organisation; for one naming none, the customer the bridge found from
    its reporter, in brackets ("-": none)."""
    if outcome.organization:
        return outcome.organization
    return f"({outcome.customer})" if outcome.customer else "-"


def print_table(report: CycleReport, out: TextIO) -> None:
    """The cycle's cases, one row each, as the cycle itself kept them."""
    rows = [
        (
            o.key,
            _organisation(o),
            o.tier or "-",
            f"{o.priority_before or '-'} → {o.priority_after or '-'}"
            if o.priority_before != o.priority_after
            else (o.priority_before or "-"),
            _due(o),
            o.sla_state,
            _actions(o),
        )
        for o in report.outcomes
    ]
    header = ("KEY", "ORGANISATION", "TIER", "PRIORITY", "RESPONSE DUE", "SLA", "ACTIONS TAKEN")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, str(row[-1])]).rstrip(), file=out)


def run(args: argparse.Namespace) -> int:
    setup_logging(args, quiet_by_default=True)
    out = sys.stdout
    if find_config(args.config).path is None:
        # outside a config directory the demo runs on the package's own config and rules
        args.config = str(default_config())
    try:
        settings, ruleset = load_config(args)
    except CommandError as exc:
        complain(f"error: {exc}")
        return exc.code
    url = urlsplit(settings.jira.url)
    host = url.hostname or "127.0.0.1"
    port = args.port if getattr(args, "port", None) is not None else (url.port or 8089)
    if port and not _port_free(host, port):
        print(f"note: port {port} is busy; the demo sandbox uses a free port instead", file=out)
        port = 0
    try:
        # the demo's moment is the demo world's own, never this host's clock: the same
        # story every day (and a frozen clock: both cycles see the same moment)
        now = parse_now(args.now, default_tz(ruleset)) if args.now else seeds.DEMO_NOW
    except CommandError as exc:
        complain(f"error: {exc}")
        return exc.code
    store = seeds.build("demo", now=now, frozen=True)
    server = SandboxServer(store, host, port, flavour=settings.jira.flavour).start()
    print(
        f"Sandbox: Jira Service Management at {server.url} "
        f"({len(store.issues)} demo cases, login {seeds.BRIDGE_EMAIL} / {seeds.BRIDGE_TOKEN})",
        file=out,
    )
    settings = dataclasses.replace(
        settings, jira=dataclasses.replace(settings.jira, url=server.url)
    )
    workdir = Path(tempfile.mkdtemp(prefix="jsm-bridge-demo-"))
    try:
        runtime = connect(settings, ruleset, state_path=workdir / "state.sqlite")
    except CommandError as exc:
        server.stop()
        complain(f"error: {exc}")
        return exc.code
    code = EXIT_OK
    try:
        preview = runtime.engine.cycle(now, dry_run=True)
        planned = sum(len(o.plan.actions) for o in preview.outcomes if o.plan is not None)
        print(
            f"\n1) plan: {planned} action(s) on {preview.changed} of {preview.read} cases "
            f"(writes nothing — `jsm-bridge plan` shows each one)",
            file=out,
        )

        server.requests.clear()
        first = runtime.engine.cycle(now)
        reads1, writes1 = server.requests.count(kind="read"), server.requests.count(kind="write")
        local = now.astimezone(default_tz(ruleset))
        print(f"\n2) run --once at {local.strftime('%a %d %b %Y %H:%M %Z')}:\n", file=out)
        print_table(first, out)
        print(f"\n   {summary_line(first)}", file=out)
        print(f"   requests: {reads1} reads, {writes1} writes", file=out)

        server.requests.clear()
        second = runtime.engine.cycle(now)
        reads2, writes2 = server.requests.count(kind="read"), server.requests.count(kind="write")
        print(
            f"\n3) second cycle: {second.read} cases re-read, {reads2} read requests, "
            f"{writes2} writes — nothing is written twice.",
            file=out,
        )
        code = max(exit_code(first), exit_code(second))
        if args.keep:
            hint = ""
            if server.port != (url.port or 8089):
                hint = (
                    f"  (these use {args.config}, which points at port {url.port}: the sandbox"
                    f" is on port {server.port} this time, so copy the config and change jira.url)\n"
                )
            at = now.isoformat(timespec="minutes")
            print(
                f"\nThe sandbox keeps running at {server.url} with this cycle's results, its"
                f" clock stopped at the demo's moment. Try:\n"
                f"  jsm-bridge explain SUP-7 --now {at}\n"
                f"  jsm-bridge plan --issue SUP-30 --now {at}\n{hint}"
                "Ctrl-C stops it.",
                file=out,
            )
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
    finally:
        runtime.close()
        server.stop()
    return code
