"""A loopback proxy in front of the sandbox that damages chosen issues in Jira's answers.

The sandbox answers as Atlassian documents; the shapes a real site, an app or a
proxy can still produce (a mistyped status category, a field nested a thousand
levels deep) come from here.  Requests go through unchanged; JSON answers that
carry an issue whose key has a mutation (a search page's ``issues``, one issue)
are rewritten before they reach the bridge.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

Mutation = Callable[[dict[str, Any]], None]

#: A mutation may set a value to this; the proxy turns it into JSON nested too deeply to parse.
DEEP = "__deep_json__"
DEEP_LEVELS = 1500


def _rewrite(payload: Any, mutations: Mapping[str, Mutation]) -> Any:
    if isinstance(payload, dict):
        issues = payload.get("issues")
        if isinstance(issues, list):
            for issue in issues:
                if isinstance(issue, dict) and issue.get("key") in mutations:
                    mutations[issue["key"]](issue)
        elif payload.get("key") in mutations and "fields" in payload:
            mutations[payload["key"]](payload)
    return payload


@contextmanager
def damaging_proxy(upstream: str, mutations: Mapping[str, Mutation]) -> Iterator[str]:
    """Serve on 127.0.0.1 (a free port); yields the proxy's base URL."""
    session = requests.Session()

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() in ("authorization", "content-type", "accept")
            }
            answer = session.request(
                self.command, upstream + self.path, data=body, headers=headers, timeout=30
            )
            content = answer.content
            if answer.ok and "json" in answer.headers.get("Content-Type", "") and content:
                text = json.dumps(_rewrite(answer.json(), mutations))
                deep = "[" * DEEP_LEVELS + "]" * DEEP_LEVELS
                content = text.replace(json.dumps(DEEP), deep).encode()
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() in ("content-type", "retry-after"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = _forward

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        session.close()
