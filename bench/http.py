"""HTTP client benchmark: the CPU each candidate transport spends per Jira request.

    .venv/bin/python bench/http.py [--requests 2000] [--runs 5]

The sandbox runs in a process of its own (``jsm-bridge sandbox``), so the CPU time measured
here (``time.process_time``) is the client's alone.  Every candidate sends the same
authenticated ``GET /rest/api/2/myself`` and ``PUT /rest/api/2/issue/{key}/properties/x``
pair over one kept-alive connection, with the settings the bridge needs: connection reuse,
TLS verification left on (plain HTTP on loopback here, so it costs nothing in any of them),
a timeout, no redirects followed for writes.  Each figure is the least of ``--runs`` runs;
the same number of runs for every candidate.

Candidates: ``requests`` as the bridge used it (``trust_env`` on: proxies, NO_PROXY and
``~/.netrc`` looked up on every request), ``requests`` with ``trust_env=False``,
``urllib3`` directly, ``httpx`` (when installed) and the standard library's
``http.client`` (the floor: no pooling, no retries, nothing).

Measured on the 2-core build machine (CPU ms per request, least of 5 runs):
requests 1.075, requests with trust_env=False 0.676, httpx 0.695, urllib3 0.371,
http.client 0.180.  The bridge keeps ``requests`` with ``trust_env=False``: README,
"The HTTP client stays requests", says why.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# bench/http.py must not stand in for the standard library's `http`: drop this script's
# own directory from the import path (Python puts it first).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import http.client  # noqa: E402

from bridge.sandbox import seed as seeds  # noqa: E402

EMAIL = "bridge@vendor.example"
KEY = "SUP-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sandbox(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "sandbox", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # the banner: it is listening
    return proc


Client = Callable[[str, str, bytes | None], int]


def auth_header() -> str:
    return "Basic " + base64.b64encode(f"{EMAIL}:{seeds.BRIDGE_TOKEN}".encode()).decode()


HEADERS = {"Authorization": auth_header(), "Accept": "application/json"}
BODY = json.dumps({"version": 1, "done": {}}).encode()


def make_requests(base: str, *, trust_env: bool) -> tuple[Client, Callable[[], None]]:
    import requests

    session = requests.Session()
    session.trust_env = trust_env
    session.headers.update(HEADERS)

    def send(method: str, path: str, body: bytes | None) -> int:
        headers = {"Content-Type": "application/json"} if body is not None else None
        r = session.request(method, base + path, data=body, headers=headers, timeout=30)
        r.content  # noqa: B018 - read the body, as the bridge does
        return r.status_code

    return send, session.close


def make_urllib3(base: str) -> tuple[Client, Callable[[], None]]:
    import urllib3

    pool = urllib3.PoolManager(maxsize=1, retries=False, timeout=urllib3.Timeout(30))

    def send(method: str, path: str, body: bytes | None) -> int:
        headers = dict(HEADERS)
        if body is not None:
            headers["Content-Type"] = "application/json"
        r = pool.request(method, base + path, body=body, headers=headers, redirect=False)
        return r.status

    return send, pool.clear


def make_httpx(base: str) -> tuple[Client, Callable[[], None]] | None:
    try:
        import httpx
    except ImportError:
        return None
    client = httpx.Client(headers=HEADERS, timeout=30, trust_env=False)

    def send(method: str, path: str, body: bytes | None) -> int:
        headers = {"Content-Type": "application/json"} if body is not None else None
        r = client.request(method, base + path, content=body, headers=headers)
        return r.status_code

    return send, client.close


def make_http_client(host: str, port: int) -> tuple[Client, Callable[[], None]]:
    conn = http.client.HTTPConnection(host, port, timeout=30)

    def send(method: str, path: str, body: bytes | None) -> int:
        headers = dict(HEADERS)
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        return r.status

    return send, conn.close


def run(send: Client, n: int) -> tuple[float, float]:
    """CPU and wall seconds for ``n`` requests (half reads, half writes)."""
    get = "/rest/api/2/myself"
    put = f"/rest/api/2/issue/{KEY}/properties/bench"
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(n):
        status = send("GET", get, None) if i % 2 == 0 else send("PUT", put, BODY)
        if status >= 300:
            raise SystemExit(f"unexpected HTTP {status}")
    return time.process_time() - c0, time.perf_counter() - w0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    port = free_port()
    proc = start_sandbox(port)
    try:
        base = f"http://127.0.0.1:{port}"
        candidates: list[tuple[str, tuple[Client, Callable[[], None]] | None]] = [
            ("requests (trust_env on)", make_requests(base, trust_env=True)),
            ("requests (trust_env=False)", make_requests(base, trust_env=False)),
            ("urllib3", make_urllib3(base)),
            ("httpx", make_httpx(base)),
            ("http.client (floor)", make_http_client("127.0.0.1", port)),
        ]
        rows: list[tuple[str, float, float]] = []
        for name, made in candidates:
            if made is None:
                print(f"{name}: not installed", flush=True)
                continue
            send, close = made
            run(send, 50)  # warm up: connect, import paths
            best_cpu = best_wall = math.inf
            for _ in range(args.runs):
                cpu, wall = run(send, args.requests)
                best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
            close()
            rows.append((name, best_cpu, best_wall))
            print(f"  {name}: done", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    floor = min(cpu for _, cpu, _ in rows)
    print(
        f"\n{args.requests} requests (half GET, half PUT) per run, least of {args.runs} runs each"
    )
    head = f"{'client':<30}{'CPU ms/request':>16}{'× floor':>9}{'wall ms/request':>17}"
    print(head)
    print("-" * len(head))
    for name, cpu, wall in rows:
        print(
            f"{name:<30}{cpu / args.requests * 1000:>16.3f}{cpu / floor:>9.2f}"
            f"{wall / args.requests * 1000:>17.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
