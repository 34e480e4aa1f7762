"""Bench: a full paged search over 10,000 sandbox cases (Cloud search/jql and Data Center search).

    .venv/bin/python bench/sandbox_search.py [--cases 10000]

Prints figures; asserts nothing about time (speed lives here, not in tests).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# bench/http.py must not stand in for the standard library's `http`: drop this script's
# own directory from the import path (Python puts it first).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import requests  # noqa: E402

from bridge.sandbox import seed as seeds  # noqa: E402
from bridge.sandbox.server import SandboxServer  # noqa: E402

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Australia/Brisbane"))


def bridge_fields(server: SandboxServer) -> list[str]:
    store = server.store
    names = [
        "Response due",
        "SLA state",
        "Support tier",
        "Cases this month",
        "Environment type",
        "Staff available",
        "Product",
        "Product version",
        "Impact",
        "Contact phone",
        "Organizations",
        "Request Type",
    ]
    custom = [f.id for n in names if (f := store.field_by_name(n)) is not None]
    system = [
        "summary",
        "status",
        "priority",
        "labels",
        "reporter",
        "assignee",
        "created",
        "updated",
    ]
    return [*system, "resolution", "resolutiondate", *custom]


def cloud_pass(
    server: SandboxServer, fields: list[str], page: int, properties: list[str]
) -> tuple[int, int, float]:
    s = requests.Session()
    s.auth = (seeds.BRIDGE_EMAIL, seeds.BRIDGE_TOKEN)
    t0 = time.perf_counter()
    token: str | None = None
    n = pages = 0
    while True:
        body: dict[str, Any] = {
            "jql": "project = SUP",
            "fields": fields,
            "maxResults": page,
        }
        if properties:
            body["properties"] = properties
        if token:
            body["nextPageToken"] = token
        data = s.post(server.url + "/rest/api/3/search/jql", json=body).json()
        n += len(data["issues"])
        pages += 1
        token = data.get("nextPageToken")
        if not token:
            break
    return n, pages, time.perf_counter() - t0


def dc_pass(server: SandboxServer, fields: list[str], page: int) -> tuple[int, int, float]:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {seeds.BRIDGE_TOKEN}"
    t0 = time.perf_counter()
    start = pages = 0
    while True:
        body = {"jql": "project = SUP", "fields": fields, "startAt": start, "maxResults": page}
        data = s.post(server.url + "/rest/api/2/search", json=body).json()
        start += len(data["issues"])
        pages += 1
        if not data["issues"] or start >= data["total"]:
            break
    return start, pages, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=10_000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    store = seeds.build("empty", now=NOW, frozen=True)
    seeds.generate(store, args.cases, now=NOW)
    gen = time.perf_counter() - t0
    print(f"generate {args.cases} cases: {gen:.2f} s")

    for flavour in ("cloud", "datacenter"):
        server = SandboxServer(store, flavour=flavour).start()
        try:
            fields = bridge_fields(server)
            if flavour == "cloud":
                n, pages, secs = cloud_pass(server, fields, 100, ["jsm-bridge"])
                print(
                    f"cloud search/jql, {len(fields)} fields + 1 property, page 100: "
                    f"{n} issues in {pages} pages, {secs:.2f} s ({n / secs:,.0f} issues/s)"
                )
                n, pages, secs = cloud_pass(server, ["key"], 5000, [])
                print(
                    f"cloud search/jql, keys only, page 5000: {n} issues in {pages} pages, {secs:.2f} s"
                )
            else:
                n, pages, secs = dc_pass(server, fields, 1000)
                print(
                    f"datacenter search, {len(fields)} fields, page 1000: "
                    f"{n} issues in {pages} pages, {secs:.2f} s ({n / secs:,.0f} issues/s)"
                )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
