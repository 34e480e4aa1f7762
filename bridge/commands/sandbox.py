"""``jsm-bridge sandbox``: start the embedded Jira Service Management sandbox until Ctrl-C/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType

from bridge.logs import complain, print_demo_credentials
from bridge.sandbox import seed as seeds
from bridge.sandbox.server import SandboxServer
from bridge.sandbox.store import DEFAULT_SITE_TZ, Clock, Store, parse_instant


def _now(text: str | None) -> datetime | None:
    if not text:
        return None
    from zoneinfo import ZoneInfo

    try:
        return parse_instant(text, ZoneInfo(DEFAULT_SITE_TZ))
    except ValueError:
        raise SystemExit(
            f"jsm-bridge sandbox: --now {text!r} is not an ISO 8601 time (e.g. 2026-11-27T09:00+10:00)"
        ) from None


def build_store(args: argparse.Namespace) -> tuple[Store, str]:
    now = _now(args.now)
    state = Path(args.state) if args.state else None
    if state is not None and state.exists():
        store = Store.load(state, Clock(now) if now else None)
        origin = f"state {state}"
    else:
        store = seeds.build(args.seed, now=now, cases=0)
        origin = f"seed {args.seed}"
    if args.cases:
        seeds.generate(store, int(args.cases), now=store.now())
        origin += f" + {args.cases} generated cases"
    return store, origin


def run(args: argparse.Namespace) -> int:
    try:
        store, origin = build_store(args)
        server = SandboxServer(
            store,
            args.host,
            args.port,
            flavour=args.flavour,
            faults=args.faults,
            state_path=args.state,
        )
    except (ValueError, OSError) as exc:
        complain(f"jsm-bridge sandbox: {exc}")
        return 2
    if args.state:
        server.save()
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    cloud = args.flavour == "cloud"
    print(
        f"jsm-bridge sandbox ({args.flavour}, {origin}, {len(store.issues)} cases) at {server.url}"
    )
    print(
        f"  clock: {store.now().astimezone(store.site_tz).isoformat(timespec='seconds')} ({store.site_tz.key})"
    )
    if cloud:
        print(f"  bridge:    basic {seeds.BRIDGE_EMAIL}:{seeds.BRIDGE_TOKEN}")
        print(
            f"  agents:    basic jane.engineer@vendor.example:{seeds.AGENT_TOKEN} (sam.agent, priya.lead)"
        )
        print(f"  customers: basic ops@acme.example:{seeds.CUSTOMER_TOKEN} (every portal customer)")
        print(
            f"  try: curl -u {seeds.BRIDGE_EMAIL}:{seeds.BRIDGE_TOKEN} '{server.url}/rest/api/3/search/jql?jql=project=SUP'"
        )
    else:
        # the sandbox's own tokens are public test data: shown as they are, to be copied
        print_demo_credentials(f"  bridge: Authorization: Bearer {seeds.BRIDGE_TOKEN}")
        print_demo_credentials("  agents: Bearer pat-jane.engineer (pat-<name>)")
        print_demo_credentials(
            f"  try: curl -H 'Authorization: Bearer {seeds.BRIDGE_TOKEN}' '{server.url}/rest/api/2/search?jql=project=SUP'"
        )
    if args.faults:
        print(f"  faults: {args.faults}")
    if args.state:
        print(f"  state: {args.state} (saved after every write)")
    print(
        "  admin: /_sandbox/clock, /_sandbox/requests, /_sandbox/faults, /_sandbox/state  (Ctrl-C stops)"
    )
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0
