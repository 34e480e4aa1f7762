"""The sandbox's HTTP server: standard library only, keep-alive HTTP/1.1, usable in-process.

    server = SandboxServer(store, port=0, flavour="cloud", faults="429:0.1").start()
    ... requests against server.url ...
    server.stop()

Authentication is Jira's: Cloud takes HTTP basic ``email:api-token``; Data Center
takes ``Authorization: Bearer <personal access token>`` (and basic ``name:token``).
Missing or wrong credentials → 401; a portal customer calling an agent-only
resource → 403.

Admin routes (not Jira's; never faulted, never logged, no authentication; the
server binds to loopback by default):

    GET  /_sandbox/clock                 {"now": iso}
    POST /_sandbox/clock                 {"now": iso} | {"advance": "2h"} → {"now": iso}
    GET  /_sandbox/requests[?kind=write] {"requests": [{method, path, query, status, kind, route, fault}]}
    DELETE /_sandbox/requests            clear the request log
    GET  /_sandbox/faults                {"spec": "..."}
    POST /_sandbox/faults                {"spec": "429:0.1,..."} (empty string clears) → {"spec"}
    GET  /_sandbox/state                 the whole store as the --state JSON document
    POST /_sandbox/issues/{key}/as/{email}
         {"method": "PUT"|"POST", "path": "comment"|"transitions"|"", "body": {...}}
         performs that Jira call on the issue as another user (e.g. an engineer's edit)
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from bridge.sandbox import routes
from bridge.sandbox.faults import Faults
from bridge.sandbox.routes import JsmError, Request, Response, Route
from bridge.sandbox.store import Store, StoreError, User, parse_duration, parse_instant

log = logging.getLogger("bridge.sandbox")
FLAVOURS = ("cloud", "datacenter")


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int  # 0 = connection dropped without a response
    kind: str  # read | write | site (a project property: site metadata, not a case)
    route: str  # the route template, "" when none matched
    fault: str = ""
    user: str = ""  # e-mail of the authenticated user

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "kind": self.kind,
            "route": self.route,
            "fault": self.fault,
            "user": self.user,
        }


class RequestLog:
    """Every Jira request the sandbox saw, in arrival order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[LoggedRequest] = []

    def add(self, item: LoggedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def entries(self, kind: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [i for i in self._items if kind is None or i.kind == kind]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def count(
        self, kind: str | None = None, method: str | None = None, route: str | None = None
    ) -> int:
        return sum(
            1
            for i in self.entries(kind)
            if (method is None or i.method == method) and (route is None or route in i.route)
        )

    @property
    def writes(self) -> list[LoggedRequest]:
        return self.entries("write")

    @property
    def reads(self) -> list[LoggedRequest]:
        return self.entries("read")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: SandboxServer


class SandboxServer:
    def __init__(
        self,
        store: Store,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        flavour: str = "cloud",
        faults: str | Faults | None = None,
        state_path: str | Path | None = None,
        latency: float = 0.0,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be cloud or datacenter, not {flavour!r}")
        self.store = store
        self.flavour = flavour
        if flavour == "datacenter":
            store.name_fields_as_datacenter()
        self.faults = faults if isinstance(faults, Faults) else Faults(faults)
        self.state_path = Path(state_path) if state_path else None
        self.requests = RequestLog()
        self.snapshots: OrderedDict[str, list[int]] = OrderedDict()
        self.jql_cache: dict[tuple[str, int, str, datetime], list[int]] = {}
        #: Data Center: how deep its search pages (``startAt`` + ``maxResults``), as Jira
        #: Data Center on OpenSearch does (`routes.search_dc`); None: no limit, as the 9.x
        #: the sandbox models
        self.result_window: int | None = None
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.sandbox = self
        self._thread: threading.Thread | None = None
        #: open client connections, closed by `stop` (a stopped Jira answers nobody)
        self.connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        #: simulated round trip (seconds) added to every Jira request, as a site far away
        self.latency = latency
        #: Jira requests being served now (the most seen at once in `peak_in_flight`)
        self.in_flight = 0
        self.peak_in_flight = 0
        self._idle = threading.Condition()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no Jira request is being served (a late write has landed)."""
        with self._idle:
            return self._idle.wait_for(lambda: self.in_flight == 0, timeout)

    def _enter(self) -> None:
        with self._idle:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._idle:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.notify_all()

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        # Keep-alive connections outlive the listening socket; left open, a client would go
        # on talking to the stopped sandbox.  Close them, as a process exit would.
        with self._connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.save()

    def save(self) -> None:
        if self.state_path is not None:
            self.store.save(self.state_path)

    # ------------------------------------------------------------------ auth

    def authenticate(self, header: str | None) -> User | None:
        """The user behind an Authorization header, or None."""
        if not header:
            return None
        scheme, _, cred = header.partition(" ")
        scheme = scheme.lower()
        users = self.store.users.values()
        if scheme == "basic":
            import base64
            import binascii

            try:
                ident, _, secret = base64.b64decode(cred.strip()).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            if not secret:
                return None
            for u in users:
                if not u.active or u.token is None:
                    continue
                same = u.email.lower() == ident.lower() or (
                    self.flavour == "datacenter" and u.name.lower() == ident.lower()
                )
                if same and secrets_equal(u.token, secret):
                    return u
            return None
        if scheme == "bearer" and self.flavour == "datacenter":
            token = cred.strip()
            return next(
                (u for u in users if u.active and u.pat and secrets_equal(u.pat, token)), None
            )
        return None


def secrets_equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


class _Drop(Exception):
    """Close the connection without answering."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    server_version = "jsm-bridge-sandbox"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sandbox = self.server.sandbox
        with sandbox._connections_lock:
            sandbox.connections.add(self.connection)

    def finish(self) -> None:
        sandbox = self.server.sandbox
        with sandbox._connections_lock:
            sandbox.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    # ------------------------------------------------------------------ plumbing

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        # headers and body in one write: separate small writes meet Nagle's algorithm and the
        # client's delayed ACK, a 40 ms stall per request on loopback
        buffer: list[bytes] = self._headers_buffer  # type: ignore[attr-defined]
        buffer.append(b"\r\n")
        buffer.append(data)
        self.flush_headers()

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _dispatch(self) -> None:
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        raw = self._read_body()
        if path.startswith("/_sandbox/") or path == "/_sandbox":
            self._admin(sandbox, path, parts.query, raw)
            return
        sandbox._enter()
        try:
            self._jira(sandbox, path, parts.query, raw)
        finally:
            sandbox._leave()

    def _jira(self, sandbox: SandboxServer, path: str, query: str, raw: bytes) -> None:
        method = self.command
        if sandbox.latency:
            time.sleep(sandbox.latency)  # the round trip of a site far away
        route, params, other = routes.match(method, path, sandbox.flavour)
        kind = route.kind if route else ("read" if method == "GET" else "write")
        fault, who = "", ""
        resp: Response | None = None  # None: drop the connection
        if route is None:
            msg = "Method Not Allowed" if other else f"No Jira resource at {method} {path}"
            resp = Response(405 if other else 404, {"errorMessages": [msg], "errors": {}})
        else:
            issues = _written_issues(sandbox, params, raw) if kind == "write" else ()
            decision = sandbox.faults.decide(f"{method} {route.template}", kind, issues)
            fault = decision.label
            if decision.delay:
                time.sleep(decision.delay)
            if decision.status is not None:
                headers = {}
                if decision.retry_after is not None:
                    headers["Retry-After"] = str(int(decision.retry_after))
                if decision.status == 429:
                    headers["X-RateLimit-Reason"] = "jira-burst-based"
                    body = {"errorMessages": ["Rate limit exceeded."], "errors": {}}
                else:
                    body = {
                        "errorMessages": ["Internal server error (injected fault)."],
                        "errors": {},
                    }
                resp = Response(decision.status, body, headers)
            elif not decision.drop_before:
                user = sandbox.authenticate(self.headers.get("Authorization"))
                who = user.email if user else ""
                resp = self._serve(sandbox, route, params, query, raw, user)
                if decision.drop_after:
                    resp = None
        # log before answering, so a client that got its answer sees its request logged
        sandbox.requests.add(
            LoggedRequest(
                method,
                path,
                query,
                0 if resp is None else resp.status,
                kind,
                route.template if route else "",
                fault,
                who,
            )
        )
        if resp is None:
            self._drop()
        else:
            self._send(resp.status, resp.body, resp.headers)

    def _serve(
        self,
        sandbox: SandboxServer,
        route: Route,
        params: dict[str, str],
        query: str,
        raw: bytes,
        user: User | None,
    ) -> Response:
        jsm = route.spec == "jsm"
        try:
            if user is None and not route.anonymous:
                headers = {"WWW-Authenticate": 'Basic realm="protected-area"'}
                if jsm:
                    return Response(
                        401, _jsm_error(401, "You are not logged in.", "sd.unauthorized"), headers
                    )
                return Response(
                    401,
                    {
                        "errorMessages": ["Client must be authenticated to access this resource."],
                        "errors": {},
                    },
                    headers,
                )
            if user is not None and user.is_customer and not route.customers:
                if jsm:
                    raise JsmError(403, routes.NO_PERMISSION, "sd.forbidden")
                raise StoreError(403, [routes.NO_PERMISSION])
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise StoreError(
                        400, [f"Unexpected character in the request body: {exc}"]
                    ) from None
            if route.method in ("POST", "PUT") and route.request_schema is not None:
                routes.validate_body(route, body if body is not None else {})
            req = Request(
                route.method,
                route.template,
                parse_qs(query, keep_blank_values=True),
                body,
                user,
                params,
                sandbox,
                "2" if "/rest/api/2/" in route.template else "3",
                # each product documents its own value (`routes.service_desk_customers`)
                (self.headers.get("X-ExperimentalApi") or "").strip().lower()
                == ("opt-in" if sandbox.flavour == "cloud" else "true"),
            )
            with sandbox.store.lock:
                resp = route.handler(req)
                if route.kind in ("write", "site") and resp.status < 300:
                    sandbox.save()
            return resp
        except StoreError as exc:
            if jsm:
                return Response(exc.status, _jsm_error(exc.status, str(exc), "sd.error"))
            return Response(exc.status, {"errorMessages": exc.messages, "errors": exc.errors})
        except JsmError as exc:
            return Response(exc.status, _jsm_error(exc.status, exc.message, exc.i18n))
        except Exception:  # a sandbox bug must still answer, like Jira's 500
            log.exception("sandbox handler failed: %s %s", route.method, route.template)
            return Response(500, {"errorMessages": ["Internal server error"], "errors": {}})

    # ------------------------------------------------------------------ admin

    def _admin(self, sandbox: SandboxServer, path: str, query: str, raw: bytes) -> None:
        method = self.command
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            self._send(400, {"error": "the body is not JSON"})
            return
        store = sandbox.store
        try:
            if path == "/_sandbox/clock":
                if method == "POST":
                    unknown = (
                        sorted(set(body) - {"now", "advance"}) if isinstance(body, dict) else []
                    )
                    if unknown or not isinstance(body, dict) or not body:
                        self._send(
                            400,
                            {
                                "error": f'give {{"now": ISO time}} or {{"advance": "2h"}}'
                                f"{'; unknown: ' + ', '.join(unknown) if unknown else ''}"
                            },
                        )
                        return
                    if "now" in body:
                        store.clock.set(parse_instant(str(body["now"]), store.site_tz))
                    if "advance" in body:
                        store.clock.advance(parse_duration(str(body["advance"])))
                    store.version += 1
                self._send(200, {"now": _iso(store.now(), store)})
            elif path == "/_sandbox/requests":
                if method == "DELETE":
                    sandbox.requests.clear()
                    self._send(204)
                    return
                kind = parse_qs(query).get("kind", [None])[0]
                items = [r.as_json() for r in sandbox.requests.entries(kind)]
                self._send(200, {"count": len(items), "requests": items})
            elif path == "/_sandbox/faults":
                if method == "POST":
                    sandbox.faults.set(str(body.get("spec") or ""))
                self._send(200, {"spec": sandbox.faults.spec.spec})
            elif path == "/_sandbox/state":
                with store.lock:
                    doc = json.loads(json.dumps(store.to_json(), default=_json_default))
                self._send(200, doc)
            elif path.startswith("/_sandbox/issues/") and "/as/" in path and method == "POST":
                self._act_as(sandbox, path, body)
            else:
                self._send(404, {"error": f"no admin route {method} {path}"})
        except (ValueError, KeyError) as exc:
            self._send(400, {"error": str(exc)})

    def _act_as(self, sandbox: SandboxServer, path: str, body: dict[str, Any]) -> None:
        head, _, email = path.removeprefix("/_sandbox/issues/").partition("/as/")
        user = sandbox.store.find_user(email)
        if user is None:
            self._send(404, {"error": f"no user {email!r}"})
            return
        sub = str(body.get("path") or "").strip("/")
        target = f"/rest/api/2/issue/{head}" + (f"/{sub}" if sub else "")
        method = str(body.get("method") or "PUT").upper()
        route, params, _ = routes.match(
            method, target, "datacenter" if sandbox.flavour != "cloud" else "cloud"
        )
        if route is None:
            self._send(404, {"error": f"no Jira route {method} {target}"})
            return
        payload = json.dumps(body.get("body")).encode() if body.get("body") is not None else b""
        resp = self._serve(sandbox, route, params, "", payload, user)
        self._send(resp.status, resp.body, resp.headers)


def _jsm_error(status: int, message: str, key: str) -> dict[str, Any]:
    return {"errorMessage": message, "i18nErrorMessage": {"i18nKey": key, "parameters": []}}


def _iso(dt: datetime, store: Store) -> str:
    return dt.astimezone(store.site_tz).isoformat(timespec="milliseconds")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    raise TypeError(type(obj).__name__)


def _written_issues(sandbox: SandboxServer, params: dict[str, str], raw: bytes) -> list[str]:
    """The keys of the issues a write is to: the one in its path, or those a bulk
    transition lists (for faults that count one issue's writes)."""
    refs = [params["issueIdOrKey"]] if "issueIdOrKey" in params else []
    if not refs and b"bulkTransitionInputs" in raw:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            for item in json.loads(raw).get("bulkTransitionInputs") or []:
                refs.extend(str(r) for r in item.get("selectedIssueIdsOrKeys") or [])
    keys = []
    for ref in refs:
        with contextlib.suppress(StoreError):
            keys.append(sandbox.store.issue(ref).key)
    return keys
