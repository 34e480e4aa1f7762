"""`JiraClient`: the one adapter implementing `JiraPort` over HTTP.

Built on atlassian-python-api for its session set-up (basic auth for Cloud,
bearer token for Data Center, one keep-alive ``requests`` session), but every
call goes through the library's raw ``request`` so that:

* its own retrying stays off (``backoff_and_retry`` retries POSTs, and
  ``retry_with_header`` sleeps on 429 behind our back) — retries live in
  `bridge.jira.retry`;
* ``notifyUsers`` travels as a query parameter (``Jira.issue_update`` puts it
  in the body, where Jira ignores it), and an edit Jira refuses for it is made with
  notifications (`JiraClient.edit_issue`);
* comments can carry ``properties`` (``issue_add_comment`` cannot).

Issue, comment, transition, property, field, priority, status and user calls
use ``/rest/api/2`` (plain-text bodies on both flavours).  Search is
``POST /rest/api/3/search/jql`` with ``nextPageToken`` on Cloud and
``POST /rest/api/2/search`` with ``startAt``/``total`` on Data Center.

Data Center's search has no ``properties`` (Jira Server platform REST API reference,
"api/2/search"; JRASERVER-62898): there the bridge reads its ledger per issue instead
(`bridge.sync.cycle`).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests
import structlog
from atlassian import Jira
from requests.adapters import HTTPAdapter

from bridge.jira import jsondepth
from bridge.jira.jql import split_order_by
from bridge.jira.port import JiraError, Json, SearchPage
from bridge.jira.rate import RateLimiter
from bridge.jira.retry import (
    AmbiguousWrite,
    Retrier,
    RetryPolicy,
    TlsFailure,
    Transient,
    parse_retry_after,
)
from bridge.logs import register_basic_auth, register_secret
from bridge.settings import is_loopback_host

log = structlog.get_logger("bridge.jira.client")

FLAVOURS = ("cloud", "datacenter")

#: Largest page each search endpoint accepts.  Cloud's ``search/jql`` documents
#: "max 5000 issues" (reached when only ids/keys are asked for; with more fields
#: Jira may return fewer, which the paging loop copes with).  Data Center caps at
#: ``jira.search.views.default.max`` (1000 unless an admin changed it).
MAX_PAGE = {"cloud": 5000, "datacenter": 1000}
#: How deep Data Center's search pages at most (``startAt`` + ``maxResults``): "you may hit
#: a 500 error if you try to access results beyond the configured max_result_window
#: (default: 10,000). This limit is set by the underlying search engine (OpenSearch or
#: Lucene)" (Atlassian Support, Data Center: "Handling JQL REST API searching exceeding
#: max_result_window in Jira").  Jira Data Center 11.3 and later says its own
#: (`searchLimits/maxResultWindow`); this is the window of one that does not.  A search
#: matching more is read a span of creation days at a time (`JiraClient._search_dc`).
DC_RESULT_WINDOW = 10_000
#: a bulk operation's final states (BulkOperationProgress.status)
BULK_DONE = frozenset({"COMPLETE", "FAILED", "CANCELLED", "DEAD"})
#: the most issues one bulk transition request may name
BULK_MAX = 1000
#: Pages for the auxiliary listings (changelog, comments, organisations).
AUX_PAGE = 100
#: comment ids in one "Get comments by IDs" request (Cloud's maximum)
COMMENT_IDS = 1000
_DAY = timedelta(days=1)
#: Page size for the workflow listing (Jira's default and documented page).
WORKFLOW_PAGE = 50
#: Cloud's ``search/jql`` takes at most this many issue property keys.
MAX_SEARCH_PROPERTIES = 5

#: the issue searches (Cloud's and Data Center's), as `_call` names a request
_SEARCH = re.compile(r"/rest/api/\d/search(/jql)?$")

#: The longest pool-wide pause a Retry-After may impose (the retry policy caps its own).
RETRY_AFTER_CAP = 60.0

#: JSM's internal-comment flag (a comment property).
INTERNAL_COMMENT_PROPERTY = "sd.public.comment"


class _JiraSettings(Protocol):  # the shape of `settings.jira` (bridge/settings.py)
    @property
    def url(self) -> str: ...
    @property
    def flavour(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def page_size(self) -> int: ...
    @property
    def verify_tls(self) -> bool: ...
    @property
    def timeout(self) -> float: ...

    @property
    def token(self) -> Any: ...


def _quote_path(part: str) -> str:
    return quote(part, safe="")


class JiraClient:
    """`JiraPort` over Jira's REST API (Cloud or Data Center)."""

    def __init__(
        self,
        url: str,
        *,
        flavour: str,
        email: str | None,
        token: str,
        verify_tls: bool = True,
        timeout: float = 30.0,
        page_size: int = 100,
        retry: RetryPolicy | None = None,
        on_request: Callable[[str, str, int], None] | None = None,
        rate: RateLimiter | None = None,
        connections: int = 16,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"jira.flavour must be one of {', '.join(FLAVOURS)}, not {flavour!r}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"jira.url must be an http(s) URL such as https://acme.atlassian.net, not {url!r}"
            )
        if parts.username or parts.password:
            raise ValueError(
                "jira.url must not contain credentials; use jira.email and the token setting"
            )
        if parts.scheme != "https" and not is_loopback_host(parts.hostname):
            raise ValueError(
                f"jira.url {url!r} is not HTTPS: HTTPS is required for every host except loopback"
            )
        if not token:
            raise ValueError(
                "the Jira API token is empty: set the token environment variable or file"
            )
        if flavour == "cloud" and not email:
            raise ValueError("jira.email is required for Jira Cloud (basic auth with an API token)")
        if page_size < 1:
            raise ValueError("jira.page_size must be at least 1")

        self.url = url.rstrip("/")
        self.flavour = flavour
        self.page_size = min(page_size, MAX_PAGE[flavour])
        #: the header value JSM's experimental calls ask for: "opt-in" on Cloud (jsm.v3.json,
        #: 412 "if the API is experimental but the X-ExperimentalApi: opt-in header was not
        #: passed"); "true" on Data Center ("Experimental methods will only process requests
        #: with X-ExperimentalApi : true", JSM Data Center REST API, Special headers:
        #: https://developer.atlassian.com/server/jira-servicedesk/info/special-headers/)
        self._experimental = "opt-in" if flavour == "cloud" else "true"
        #: Data Center: how deep its search pages (`result_window`), asked once when needed
        self._result_window: int | None = None
        self._token = token
        # whoever built this client, the token (and the Basic header made from it)
        # must never reach a log line
        register_secret(token)
        if email:
            register_basic_auth(email, token)
        self._on_request = on_request
        #: paces requests from the cycle's workers (None: no pacing)
        self.rate = rate
        self._stats_lock = threading.Lock()
        self.stats: dict[str, int] = {
            "reads": 0,
            "writes": 0,
            "retries": 0,
            "retries_429": 0,
            "retries_5xx": 0,
            "retries_timeout": 0,
            "retries_connection": 0,
        }
        self._retrier = Retrier(retry, on_retry=self._count_retry)
        #: whether edits ask Jira not to notify watchers (`edit_issue`); turned off for
        #: good by the first edit Jira refuses for it
        self.quiet_edits = True
        if not verify_tls:
            log.warning("jira.tls_verification_off", url=self.url)
        common: dict[str, Any] = {
            "timeout": timeout,
            "verify_ssl": verify_tls,
            "backoff_and_retry": False,
            "retry_with_header": False,
            "advanced_mode": True,
        }
        if flavour == "cloud":
            self._jira = Jira(self.url, username=email, password=token, cloud=True, **common)
        else:
            self._jira = Jira(self.url, token=token, cloud=False, **common)
        self._timeout = float(timeout)  # the library truncates its own copy to int
        self._verify = verify_tls
        self._session: requests.Session = self._jira.session
        self._session.headers.update({"Accept": "application/json"})
        # One connection per worker, kept alive (requests keeps 10 per host by default and
        # drops the rest after each use); no retries below ours.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, connections), max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        # The environment (proxies, CA bundle) is read once here, not on every request:
        # with trust_env each request looks up proxies, NO_PROXY and ~/.netrc again.
        self._session.trust_env = False
        self._session.proxies.update(requests.utils.get_environ_proxies(self.url))
        #: the environment variable naming the CA bundle in use, if one does
        self._bundle_variable = next(
            (name for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if os.environ.get(name)),
            None,
        )
        bundle = os.environ.get(self._bundle_variable) if self._bundle_variable else None
        self._verify_arg: bool | str = bundle if (verify_tls and bundle) else verify_tls

    @classmethod
    def from_settings(cls, jira: _JiraSettings, **overrides: Any) -> JiraClient:
        """Build from `settings.jira` (token from its secret wrapper's ``reveal()``)."""
        token = jira.token.reveal() if hasattr(jira.token, "reveal") else str(jira.token)
        kwargs: dict[str, Any] = {
            "flavour": jira.flavour,
            "email": jira.email,
            "token": token,
            "verify_tls": getattr(jira, "verify_tls", True),
            "timeout": getattr(jira, "timeout", 30.0),
            "page_size": getattr(jira, "page_size", 100),
        }
        kwargs.update(overrides)
        return cls(jira.url, **kwargs)

    def interrupt_waits(self, pause: Callable[[float], bool] | None) -> None:
        """Sleep between retries with ``pause(seconds)``, which returns True when a stop
        request cut the wait short (the call then raises `WaitInterrupted`)."""
        self._retrier.pause = pause
        if self.rate is not None:
            self.rate.interrupt = pause

    def close(self) -> None:
        self._session.close()

    def __repr__(self) -> str:  # never show the token
        return f"JiraClient({self.url!r}, flavour={self.flavour!r})"

    # ------------------------------------------------------------------ plumbing

    def _count_retry(self, kind: str) -> None:
        with self._stats_lock:
            self.stats["retries"] += 1
            key = f"retries_{kind}"
            self.stats[key] = self.stats.get(key, 0) + 1

    def _scrub(self, text: str) -> str:
        from bridge.logs import redact_text  # also an echoed Authorization header's value

        if self._token and self._token in text:
            text = text.replace(self._token, "***")
        return redact_text(text)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        write: bool = False,
        idempotent: bool = True,
        ok_404: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response | None:
        """One logical call (with retries).  Returns the response, or None for an allowed 404."""
        url = f"{self.url}/{path.lstrip('/')}"
        what = f"{method} /{path.lstrip('/')}"
        kind = "writes" if write else "reads"

        def send() -> requests.Response:
            if self.rate is not None:
                self.rate.acquire(method, path, write=write)
            with self._stats_lock:
                self.stats[kind] += 1
            try:
                response = self._session.request(
                    method,
                    url,
                    params=dict(params) if params else None,
                    json=body,
                    headers=dict(headers) if headers else None,
                    timeout=self._timeout,
                    verify=self._verify_arg,
                )
            except requests.RequestException:
                if self._on_request is not None:
                    self._on_request(method, path, 0)
                raise
            if self._on_request is not None:
                self._on_request(method, path, response.status_code)
            if self.rate is not None and response.status_code in (429, 503):
                wait = parse_retry_after(response.headers.get("Retry-After"))
                if wait is not None or response.status_code == 429:
                    # Jira is pacing us: every worker holds back, not only this one
                    self.rate.pause(min(wait if wait is not None else 1.0, RETRY_AFTER_CAP))
            return response

        try:
            response = self._retrier.run(send, idempotent=idempotent, what=what)
        except AmbiguousWrite as exc:
            raise JiraError(
                f"{what}: {exc}; the change may or may not have been made — re-read the issue before retrying",
                ambiguous=True,
            ) from None
        except TlsFailure as exc:
            raise JiraError(self._scrub(f"{what}: {self._tls_advice(exc)}"), config=True) from None
        except Transient as exc:
            messages = _jira_messages(exc.response) if exc.response is not None else []
            raise JiraError(
                self._scrub(
                    f"{what} failed after {self._retrier.policy.max_attempts} attempts ({exc.detail}): "
                    f"Jira at {self.url} is unavailable or rate-limiting; the next cycle will try again"
                    + (f" — {'; '.join(messages)}" if messages else "")
                ),
                status=exc.status,
                messages=[self._scrub(m) for m in messages],
            ) from None
        status = response.status_code
        if status < 400:
            return response
        if status == 404 and ok_404:
            return None
        raise self._error(what, response, ambiguous=not idempotent and status >= 500)

    def _tls_advice(self, failure: TlsFailure) -> str:
        """What failed in the TLS handshake with jira.url's host, and what to do about it."""
        parts = urlsplit(self.url)
        where = f"cannot connect securely to {parts.hostname}:{parts.port or 443}"
        if failure.kind == "version":
            return (
                f"{where}: it did not answer in TLS ({failure.detail}): is the port serving "
                "https? Check the scheme and the port in jira.url"
            )
        if failure.kind == "handshake":
            return (
                f"{where}: the TLS handshake failed ({failure.detail}): check the host and port "
                "in jira.url, and the TLS versions and certificates the site (or its proxy) accepts"
            )
        why = f"{where}: the server's TLS certificate could not be verified: {failure.detail}"
        if "match" in failure.detail.lower():  # made for another host name
            return f"{why}; use in jira.url the host name the site's certificate names"
        if isinstance(self._verify_arg, str):
            trusted = (
                f"{self._bundle_variable}={self._verify_arg} holds no CA that signed it: add "
                "the site's CA certificate (PEM) to that file, or point REQUESTS_CA_BUNDLE at "
                "one that holds it"
            )
        else:
            trusted = (
                "install the site's CA certificate (PEM) and point REQUESTS_CA_BUNDLE at it "
                "in the bridge's environment"
            )
        return f"{why}; {trusted} (for a test site only: jira.verify_tls: false)"

    def _error(self, what: str, response: requests.Response, *, ambiguous: bool) -> JiraError:
        status = response.status_code
        messages = [self._scrub(m) for m in _jira_messages(response)]
        detail = "; ".join(messages)
        if status == 401:
            hint = (
                "Jira rejected the credentials: check jira.email and the API token "
                "(Cloud: an API token for that e-mail; Data Center: a personal access token)"
            )
        elif status == 403:
            hint = "the bridge's Jira account lacks permission for this (browse/edit/comment/transition in the project)"
        elif status in (404, 405, 410) and "/issue/" not in what:
            hint = (
                "Jira has no such resource: check that jira.url is Jira's base URL and that "
                f"jira.flavour ({self.flavour}) is right for this site (cloud or datacenter)"
            )
        elif status == 404:
            hint = "not found: the issue (or property) does not exist, was moved, or the bridge's account cannot see it"
        elif status == 405:
            hint = "Jira does not allow this method here: check jira.flavour and the Jira version"
        elif status == 400 and _SEARCH.search(what):
            hint = "Jira rejected the JQL query: check jira.jql in the config (Jira says where)"
        elif status == 400 and what.endswith("/user/search"):
            hint = (
                f"Jira rejected the user search: check that jira.flavour ({self.flavour}) is "
                "right for this site (Cloud searches users by `query`, Data Center by `username`)"
            )
        elif status == 400:
            hint = "Jira rejected the request" + (
                "; check these fields on the site (field configuration, screens, allowed values)"
                if detail
                else ""
            )
        elif status == 409:
            hint = (
                "conflicting update (someone else edited the issue); the next cycle will re-read it"
            )
        elif status >= 500:
            hint = "Jira failed to process the request" + (
                "; the change may or may not have been made — re-read the issue"
                if ambiguous
                else ""
            )
        else:
            hint = "unexpected answer from Jira"
        message = f"{what} -> HTTP {status}: {hint}" + (f" — {detail}" if detail else "")
        return JiraError(
            self._scrub(message), status=status, messages=messages, ambiguous=ambiguous
        )

    def _json(self, response: requests.Response | None, what: str, *, write: bool = False) -> Any:
        """The JSON body of ``response``.  ``write``: it answers a write, which a 2xx says
        Jira took: a body that cannot be read then is an answer lost (an *ambiguous*
        error: the issue is checked before anything is sent again), never a config error
        (a refusal, whose intent would be forgotten and the write sent twice)."""
        if response is None:
            return None
        if response.status_code == 204 or not response.content:
            return None
        try:
            # one issue nested past Python's parser is marked, not the whole page lost
            return jsondepth.loads(response.text)
        except ValueError:
            if write and 200 <= response.status_code < 300:
                raise JiraError(
                    self._scrub(
                        f"{what}: Jira answered HTTP {response.status_code} but its answer "
                        "could not be read (not JSON, or cut short); the change was probably "
                        "made — re-read the issue before retrying"
                    ),
                    status=response.status_code,
                    ambiguous=True,
                ) from None
            # a sign-in page of SSO or of a proxy in front of Jira, or not Jira at all: the
            # same page comes back next time, so it is for a person to fix (exit 1)
            kind = response.headers.get("Content-Type", "").split(";")[0].strip()
            moved = urlsplit(response.url or "") if response.history else None
            raise JiraError(
                self._scrub(
                    f"{what}: Jira answered HTTP {response.status_code} with a body that is not "
                    f"JSON{f' ({kind})' if kind else ''}"
                    + (f" after a redirect to {moved.scheme}://{moved.hostname}" if moved else "")
                    + ": is jira.url pointing at Jira's base URL, and not at a sign-in page "
                    "(SSO, a proxy) in front of it? The bridge's account must reach the REST "
                    "API with its token alone"
                ),
                status=response.status_code,
                config=True,
            ) from None

    def _get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        ok_404: bool = False,
        experimental: bool = False,
    ) -> Any:
        if not experimental:
            return self._json(self._call("GET", path, params=params, ok_404=ok_404), f"GET /{path}")
        try:
            headers = {"X-ExperimentalApi": self._experimental}
            response = self._call("GET", path, params=params, ok_404=ok_404, headers=headers)
        except JiraError as exc:
            if exc.status != 412:
                raise
            # the other product's value: a site may hold to it rather than its own docs
            self._experimental = "true" if self._experimental == "opt-in" else "opt-in"
            headers = {"X-ExperimentalApi": self._experimental}
            response = self._call("GET", path, params=params, ok_404=ok_404, headers=headers)
        return self._json(response, f"GET /{path}")

    # ------------------------------------------------------------------ site facts

    def server_info(self) -> Json:
        return dict(self._get("rest/api/2/serverInfo"))

    def myself(self) -> Json:
        return dict(self._get("rest/api/2/myself"))

    def fields(self) -> list[Json]:
        return list(self._get("rest/api/2/field"))

    def priorities(self) -> list[Json]:
        return list(self._get("rest/api/2/priority"))

    def statuses(self) -> list[Json]:
        return list(self._get("rest/api/2/status"))

    def status_categories(self) -> dict[str, str]:
        """Status name -> status category key ("new" | "indeterminate" | "done")."""
        out: dict[str, str] = {}
        for status in self.statuses():
            name = status.get("name")
            category = (status.get("statusCategory") or {}).get("key")
            if isinstance(name, str) and isinstance(category, str):
                out[name] = category
        return out

    def find_users(self, query: str) -> list[Json]:
        # Cloud matches `query` against display names and e-mail addresses; Data Center's
        # `username` parameter matches user name, display name and e-mail.
        key = "query" if self.flavour == "cloud" else "username"
        return list(self._get("rest/api/2/user/search", {key: query, "maxResults": 50}))

    def workflow_transition_names(self) -> set[str] | None:
        """Every transition name in the workflows the bridge's account may read.

        Cloud: ``GET /rest/api/3/workflows/search?expand=values.transitions``, paged by
        ``startAt``/``maxResults`` until ``isLast``.  (The older ``/rest/api/3/workflow/search``
        is deprecated and announced as removed on 1 June 2026.)  Reading every workflow
        needs the *Administer Jira* global permission; without it Jira answers 401/403, or
        lists no workflow (nor transition) at all: all give None (the names cannot be checked, not an
        error).  ``INITIAL`` transitions ("Create") are left out: no rule can take them.

        Data Center: None.  Its REST API has no listing of a workflow's transitions
        (``GET /rest/api/2/workflow`` returns names and step counts only), so transition
        names are checked per issue when they are applied.
        """
        if self.flavour != "cloud":
            return None
        names: set[str] = set()
        start = 0
        while True:
            try:
                page = self._get(
                    "rest/api/3/workflows/search",
                    {"startAt": start, "maxResults": WORKFLOW_PAGE, "expand": "values.transitions"},
                )
            except JiraError as exc:
                if exc.status in (401, 403, 404):
                    log.info("jira.workflows_unreadable", status=exc.status)
                    return None
                raise
            if not isinstance(page, dict):
                return None
            values = [w for w in page.get("values") or [] if isinstance(w, dict)]
            for workflow in values:
                for transition in workflow.get("transitions") or []:
                    if not isinstance(transition, dict) or transition.get("type") == "INITIAL":
                        continue
                    name = transition.get("name")
                    if isinstance(name, str) and name.strip():
                        names.add(name.strip())
            start += len(values)
            total = page.get("total")
            if (
                not values
                or page.get("isLast") is True
                or (isinstance(total, int) and start >= total)
            ):
                break
        # no workflow (or none with transitions) readable: nothing to check against
        return names or None

    # ------------------------------------------------------------------ reading issues

    def search(
        self,
        jql: str,
        fields: Sequence[str],
        *,
        properties: Sequence[str] = (),
        expand: Sequence[str] = (),
    ) -> Iterator[Json]:
        pages = self.search_pages(jql, fields, properties=properties, expand=expand)
        return (issue for page in pages for issue in page.issues)

    def search_pages(
        self,
        jql: str,
        fields: Sequence[str],
        *,
        properties: Sequence[str] = (),
        expand: Sequence[str] = (),
    ) -> Iterator[SearchPage]:
        if len(properties) > MAX_SEARCH_PROPERTIES:
            raise ValueError(f"Jira search takes at most {MAX_SEARCH_PROPERTIES} issue properties")
        if self.flavour == "cloud":
            return self._search_cloud(jql, fields, properties, expand)
        return self._search_dc(jql, fields, properties, expand)

    def _search_cloud(
        self, jql: str, fields: Sequence[str], properties: Sequence[str], expand: Sequence[str]
    ) -> Iterator[SearchPage]:
        """Cloud's enhanced search pages on ``nextPageToken``: "If this result represents
        the last or the only page this token will be null", and ``isLast`` "Indicates
        whether this is the last page" (Jira Cloud platform REST API v3, "Search for issues
        using JQL enhanced search (POST)", SearchAndReconcileResults)."""
        token: str | None = None
        while True:
            body: dict[str, Any] = {
                "jql": jql,
                "fields": list(fields),
                "maxResults": self.page_size,
            }
            if properties:
                body["properties"] = list(properties)
            if expand:
                body["expand"] = ",".join(expand)  # search/jql takes a comma-separated string
            if token:
                body["nextPageToken"] = token
            page = self._json(
                self._call("POST", "rest/api/3/search/jql", body=body),
                "POST /rest/api/3/search/jql",
            )
            token = page.get("nextPageToken")
            last = not token or page.get("isLast") is True
            yield SearchPage(list(page.get("issues") or []), last=last)
            if last:
                return

    def _search_dc(
        self, jql: str, fields: Sequence[str], properties: Sequence[str], expand: Sequence[str]
    ) -> Iterator[SearchPage]:
        """Data Center's search pages on ``startAt``/``maxResults`` and says how many issues
        match in ``total`` (Jira Server platform REST API reference, "api/2/search"), no
        deeper than its result window (`DC_RESULT_WINDOW`).  A search matching more is
        read in spans of creation days, each within the window (`_search_dc_by_days`)."""
        pages = self._pages_dc(jql, fields, expand)
        first, total = next(pages)
        if first.last or total is None or total <= self.result_window():
            yield first
            yield from (page for page, _ in pages)
            return
        pages.close()
        log.info("jira.search_split_by_day", matched=total, window=self.result_window())
        yield from self._search_dc_by_days(jql, fields, expand)

    def result_window(self) -> int:
        """How deep Data Center's search pages: what Jira Data Center 11.3 and later
        answers at ``GET /rest/api/2/searchLimits/maxResultWindow`` ("Returns the maximum
        number of search results that can be returned by the underlying search
        platform", Jira Data Center REST API, "searchLimits"), else `DC_RESULT_WINDOW`;
        asked once, before the first search (a window below the page size refuses even a
        first page that asks for more)."""
        if self._result_window is None:
            path = "rest/api/2/searchLimits/maxResultWindow"
            try:
                response = self._call("GET", path, ok_404=True)
            except JiraError as exc:
                if exc.status != 405:  # an older Jira may refuse the method as well
                    raise
                response = None
            said = self._json(response, f"GET /{path}") if response is not None else None
            window = said if isinstance(said, int) and not isinstance(said, bool) else 0
            self._result_window = window if window > 0 else DC_RESULT_WINDOW
        return self._result_window

    def _pages_dc(
        self, jql: str, fields: Sequence[str], expand: Sequence[str]
    ) -> Generator[tuple[SearchPage, int | None], None, None]:
        """Each page of one search, with the ``total`` Jira said matches; later pages no
        deeper than the result window (`_search_dc` read on only when the total fits)."""
        start = 0
        while True:
            size = min(self.page_size, self.result_window() - start)
            if start and size <= 0:  # more cases matched while the search was read
                raise JiraError(
                    f"POST /rest/api/2/search: more issues matched while they were read "
                    f"than Data Center's search reaches ({self.result_window()}); the "
                    "next cycle reads them a span of days at a time",
                    status=None,
                )
            page = self._dc_search(jql, fields, start, size, expand)
            issues = list(page.get("issues") or [])
            start += len(issues)  # Jira may return fewer than asked: advance by what came
            total = page.get("total")
            total = total if isinstance(total, int) else None
            last = not issues or (total is not None and start >= total)
            yield SearchPage(issues, last=last), total
            if last:
                return

    def _search_dc_by_days(
        self, jql: str, fields: Sequence[str], expand: Sequence[str]
    ) -> Iterator[SearchPage]:
        """``jql``'s issues read a span of creation days at a time, each span holding no
        more than the result window (halved until it does), oldest span first; the order
        ``jql`` asks for holds within a span.  Days are written as dates: JQL reads
        "yyyy-MM-dd" in the searching user's time zone, so the spans meet exactly
        whatever that zone (Jira Server "Advanced searching - fields reference", Created)."""
        where, order = split_order_by(jql)
        oldest, newest = self._created_day(where, "ASC"), self._created_day(where, "DESC")
        if oldest is None or newest is None:
            yield SearchPage([], last=True)
            return
        # two days either side: the dates Jira shows are in a zone not always the user's
        # (zones lie up to 26 hours apart)
        spans = [(oldest - 2 * _DAY, newest + 3 * _DAY)]
        while spans:
            since, before = spans.pop(0)
            days = f'created >= "{since.isoformat()}" AND created < "{before.isoformat()}"'
            total = self._matched(f"({where}) AND {days}")
            if total == 0:
                if not spans:
                    yield SearchPage([], last=True)
                continue
            if total > self.result_window():
                if before - since <= _DAY:
                    raise JiraError(
                        f"Jira matched {total} issues created on {since.isoformat()} alone, "
                        f"more than Data Center's search reaches ({self.result_window()}): "
                        "narrow jira.jql, or raise jira.search.platform.max.result.window",
                        status=None,
                    )
                middle = since + (before - since) // 2
                spans[0:0] = [(since, middle), (middle, before)]
                continue
            for page, _ in self._pages_dc(f"({where}) AND {days} {order}".strip(), fields, expand):
                yield SearchPage(page.issues, last=page.last and not spans)

    def _dc_search(
        self,
        jql: str,
        fields: Sequence[str],
        start: int,
        size: int,
        expand: Sequence[str] = (),
    ) -> Any:
        """One page of Data Center's ``POST /rest/api/2/search``, as Jira answered it."""
        body: dict[str, Any] = {
            "jql": jql,
            "fields": list(fields),
            "startAt": start,
            "maxResults": size,
        }
        # no `properties`: Data Center's search has none (JRASERVER-62898)
        if expand:
            body["expand"] = list(expand)
        return self._json(
            self._call("POST", "rest/api/2/search", body=body), "POST /rest/api/2/search"
        )

    def _matched(self, jql: str) -> int:
        """How many issues ``jql`` matches: a search asking for none ("maxResults=0", as
        Atlassian's "Handling JQL REST API searching exceeding max_result_window" counts)."""
        page = self._dc_search(jql, ["created"], 0, 0)
        total = page.get("total") if isinstance(page, dict) else None
        if not isinstance(total, int):
            raise JiraError("POST /rest/api/2/search: Jira said no total", status=None)
        return total

    def _created_day(self, where: str, direction: str) -> date | None:
        """The creation date of the oldest ("ASC") or newest ("DESC") issue ``where`` finds."""
        page = self._dc_search(f"({where}) ORDER BY created {direction}", ["created"], 0, 1)
        for issue in page.get("issues") or []:
            created = str((issue.get("fields") or {}).get("created") or "")
            try:
                return date.fromisoformat(created[:10])
            except ValueError:
                raise JiraError(
                    f"POST /rest/api/2/search: Jira gave {created!r} as a creation time",
                    status=None,
                ) from None
        return None

    def get_issue(
        self,
        key: str,
        fields: Sequence[str] | None = None,
        *,
        properties: Sequence[str] = (),
        expand: Sequence[str] = (),
    ) -> Json:
        params: dict[str, Any] = {}
        if fields is not None:
            params["fields"] = ",".join(fields)
        if properties:
            params["properties"] = ",".join(properties)
        if expand:
            params["expand"] = ",".join(expand)
        return dict(self._get(f"rest/api/2/issue/{_quote_path(key)}", params))

    def changelog(self, key: str) -> Iterator[Json]:
        """Every changelog entry of an issue, oldest first as Jira returns them."""
        if self.flavour == "datacenter":
            # Data Center has no paged changelog resource; the expansion carries all of it.
            issue = self.get_issue(key, ["created"], expand=["changelog"])
            yield from (issue.get("changelog") or {}).get("histories") or []
            return
        start = 0
        path = f"rest/api/2/issue/{_quote_path(key)}/changelog"
        while True:
            page = self._get(path, {"startAt": start, "maxResults": AUX_PAGE})
            values = page.get("values") or []
            yield from values
            start += len(values)
            total = page.get("total")
            if (
                not values
                or page.get("isLast") is True
                or (isinstance(total, int) and start >= total)
            ):
                return

    def comments(self, key: str) -> list[Json]:
        """Every comment of an issue, each with its comment properties.

        Data Center expands them on the issue's comments (``expand=properties``: how its
        JSM docs read ``sd.public.comment``).  Cloud documents only ``renderedBody`` for
        that expansion ("Get comments", Cloud platform REST API); its comments' properties
        come from "Get comments by IDs" (`comment_properties`)."""
        out: list[Json] = []
        start = 0
        path = f"rest/api/2/issue/{_quote_path(key)}/comment"
        expand = {"expand": "properties"} if self.flavour == "datacenter" else {}
        while True:
            page = self._get(path, {"startAt": start, "maxResults": AUX_PAGE, **expand})
            values = page.get("comments") or []
            out.extend(values)
            start += len(values)
            total = page.get("total")
            if not values or (isinstance(total, int) and start >= total):
                break
        if self.flavour == "datacenter" or not out:
            return out
        found = self.comment_properties([str(c.get("id") or "") for c in out])
        return [
            {**c, "properties": found[cid]} if (cid := str(c.get("id") or "")) in found else c
            for c in out
        ]

    def comment_properties(self, ids: Sequence[str]) -> dict[str, list[Json]]:
        """Cloud: each comment's properties (``[{"key", "value"}]``) by comment id, from
        ``POST /rest/api/2/comment/list?expand=properties`` ("Get comments by IDs": at
        most 1,000 ids a request, one page each).  A comment Jira leaves out of the answer
        (deleted meanwhile, or not visible to this account) is not in the result."""
        numbers = [int(i) for i in ids if i.isdigit()]
        out: dict[str, list[Json]] = {}
        for first in range(0, len(numbers), COMMENT_IDS):
            response = self._call(
                "POST",
                "rest/api/2/comment/list",
                params={"expand": "properties"},
                body={"ids": numbers[first : first + COMMENT_IDS]},
            )
            page = self._json(response, "POST /rest/api/2/comment/list") or {}
            for c in page.get("values") or []:
                if isinstance(c, Mapping):
                    out[str(c.get("id") or "")] = list(c.get("properties") or [])
        return out

    def comment_property(self, comment_id: str, prop: str) -> Any | None:
        """A comment property's value, or None when it is not set."""
        path = f"rest/api/2/comment/{_quote_path(comment_id)}/properties/{_quote_path(prop)}"
        found = self._get(path, ok_404=True)
        return None if found is None else found.get("value")

    def transitions(self, key: str) -> list[Json]:
        found = self._get(f"rest/api/2/issue/{_quote_path(key)}/transitions")
        return list(found.get("transitions") or [])

    def project_property(self, project: str, prop: str) -> Any | None:
        """A project property's value, or None when it is not set (HTTP 404)."""
        path = f"rest/api/2/project/{_quote_path(project)}/properties/{_quote_path(prop)}"
        found = self._get(path, ok_404=True)
        return None if found is None else found.get("value")

    def set_project_property(self, project: str, prop: str, value: Any) -> None:
        path = f"rest/api/2/project/{_quote_path(project)}/properties/{_quote_path(prop)}"
        self._call("PUT", path, body=value, write=True)

    def delete_project_property(self, project: str, prop: str) -> None:
        path = f"rest/api/2/project/{_quote_path(project)}/properties/{_quote_path(prop)}"
        self._call("DELETE", path, write=True, ok_404=True)

    def get_property(self, key: str, prop: str) -> Any | None:
        """The issue property's value, or None when it is not set (HTTP 404)."""
        path = f"rest/api/2/issue/{_quote_path(key)}/properties/{_quote_path(prop)}"
        found = self._get(path, ok_404=True)
        return None if found is None else found.get("value")

    # ------------------------------------------------------------------ writing

    def edit_issue(
        self,
        key: str,
        *,
        fields: Mapping[str, Any] | None = None,
        update: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        notify: bool = False,
    ) -> None:
        body: dict[str, Any] = {}
        if fields:
            body["fields"] = dict(fields)
        if update:
            body["update"] = dict(update)
        if properties:
            # "Issue properties may be updated as part of the edit" (Cloud platform REST
            # API, Edit issue: IssueUpdateDetails.properties, a list of EntityProperty)
            body["properties"] = [{"key": k, "value": v} for k, v in properties.items()]
        if not body:
            return  # nothing to change: no request at all
        # notifyUsers is a query parameter.  Jira answers an account that may not
        # suppress notifications (it needs Administer Projects) with 403 "To discard the
        # user notification either admin or project admin permissions are required.";
        # the platform reference says such a request is ignored.  Either way the edit is
        # made: refused for that, it is sent again with notifications, and so is every
        # later edit (a warning says what permission to give).
        path = f"rest/api/2/issue/{_quote_path(key)}"
        if notify or not self.quiet_edits:
            self._call("PUT", path, body=body, write=True)
            return
        try:
            self._call("PUT", path, params={"notifyUsers": "false"}, body=body, write=True)
        except JiraError as exc:
            if exc.status != 403:
                raise
            self._call("PUT", path, body=body, write=True)  # a 403 again is the answer
            if self.quiet_edits:
                self.quiet_edits = False
                log.warning(
                    "jira.edits_notify_watchers",
                    reason="the account may not edit without notifying watchers",
                    hint="give the bridge's account Administer Projects on the project",
                )

    def add_comment(
        self, key: str, body: str, *, internal: bool, properties: Mapping[str, Any] | None = None
    ) -> Json:
        props = [{"key": k, "value": v} for k, v in (properties or {}).items()]
        if internal:
            props = [p for p in props if p["key"] != INTERNAL_COMMENT_PROPERTY]
            props.append({"key": INTERNAL_COMMENT_PROPERTY, "value": {"internal": True}})
        payload: dict[str, Any] = {"body": body}
        if props:
            payload["properties"] = props
        response = self._call(
            "POST",
            f"rest/api/2/issue/{_quote_path(key)}/comment",
            body=payload,
            write=True,
            idempotent=False,
        )
        return dict(self._json(response, f"POST comment on {key}", write=True) or {})

    def do_transition(self, key: str, transition_id: str) -> None:
        self._call(
            "POST",
            f"rest/api/2/issue/{_quote_path(key)}/transitions",
            body={"transition": {"id": str(transition_id)}},
            write=True,
            idempotent=False,
        )

    def bulk_transition(self, moves: Mapping[str, Sequence[str]], *, patience: float) -> Json:
        """Transition many issues in one request and wait for the task to end (Jira Cloud).

        ``moves``: transition id -> the ids (or keys) of the issues it is made on, at most
        1,000 issues in all.  Returns the task's final progress: ``processedAccessibleIssues``
        (the ids moved) and ``failedAccessibleIssues`` (id -> reasons).

        ``POST /rest/api/3/bulk/issues/transition`` answers ``201 {"taskId"}`` and runs
        asynchronously; ``GET /rest/api/3/bulk/queue/{taskId}`` reports ``status`` (ENQUEUED,
        RUNNING, COMPLETE, FAILED, CANCELLED, DEAD) and, once done, which issues moved.
        It needs the global *Bulk change* permission besides *Transition issues*.
        (Jira Cloud platform REST API v3, Issue bulk operations: "Bulk transition issue
        statuses" and "Get bulk issue operation progress",
        https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-bulk-operations/)
        Jira Data Center has no such resource: its REST API transitions one issue at a
        time (``POST /rest/api/2/issue/{issueIdOrKey}/transitions``; Jira Server platform
        REST API reference, api/2/issue).

        Once submitted, anything but a final answer — polls failing, the task not ending
        within ``patience`` seconds — raises an *ambiguous* `JiraError`: some issues may
        have moved."""
        body = {
            "bulkTransitionInputs": [
                {"selectedIssueIdsOrKeys": [str(i) for i in ids], "transitionId": str(tid)}
                for tid, ids in moves.items()
            ],
            "sendBulkNotification": False,
        }
        response = self._call(
            "POST", "rest/api/3/bulk/issues/transition", body=body, write=True, idempotent=False
        )
        submitted = (
            self._json(response, "POST /rest/api/3/bulk/issues/transition", write=True) or {}
        )
        task = submitted.get("taskId") if isinstance(submitted, Mapping) else None
        if task in (None, ""):
            raise JiraError(
                "bulk transition: Jira accepted it but named no task to follow", ambiguous=True
            )
        path = f"rest/api/3/bulk/queue/{_quote_path(str(task))}"
        waited, pause = 0.0, 0.25
        while True:
            try:
                progress = self._get(path)
            except JiraError as exc:
                raise JiraError(
                    f"bulk transition task {task}: its progress could not be read: {exc}",
                    status=exc.status,
                    ambiguous=True,
                ) from exc
            status = str((progress or {}).get("status") or "")
            if status in BULK_DONE:
                return dict(progress)
            if waited >= patience:
                raise JiraError(
                    f"bulk transition task {task} still {status or 'unknown'} after {patience:g}s",
                    ambiguous=True,
                )
            self._retrier.wait(pause)
            waited += pause
            pause = min(pause * 2, 5.0)

    def set_property(self, key: str, prop: str, value: Any) -> None:
        self._call(
            "PUT",
            f"rest/api/2/issue/{_quote_path(key)}/properties/{_quote_path(prop)}",
            body=value,
            write=True,
        )

    # ------------------------------------------------------------------ Service Management

    def organizations(self) -> Iterator[Json]:
        yield from self._jsm_pages("rest/servicedeskapi/organization")

    def organization_users(self, organization_id: str) -> Iterator[Json]:
        yield from self._jsm_pages(
            f"rest/servicedeskapi/organization/{_quote_path(str(organization_id))}/user"
        )

    def service_desks(self) -> Iterator[Json]:
        """Every service desk (``id``, ``projectKey``) the bridge's account can see."""
        yield from self._jsm_pages("rest/servicedeskapi/servicedesk")

    def request_types(self, service_desk_id: str) -> Iterator[Json]:
        """A service desk's request types (``id``, ``name``)."""
        yield from self._jsm_pages(
            f"rest/servicedeskapi/servicedesk/{_quote_path(str(service_desk_id))}/requesttype"
        )

    def service_desk_customers(self, service_desk_id: str) -> Iterator[Json]:
        """A service desk's customers (experimental on Cloud and Data Center: the
        ``X-ExperimentalApi`` header says the bridge accepts that)."""
        yield from self._jsm_pages(
            f"rest/servicedeskapi/servicedesk/{_quote_path(str(service_desk_id))}/customer",
            experimental=True,
        )

    def request_participants(self, key: str) -> Iterator[Json]:
        """A customer request's participants (JSM, Cloud and Data Center: "Get request
        participants", ``/rest/servicedeskapi/request/{issueIdOrKey}/participant``)."""
        yield from self._jsm_pages(f"rest/servicedeskapi/request/{_quote_path(key)}/participant")

    def _jsm_pages(self, path: str, *, experimental: bool = False) -> Iterator[Json]:
        start = 0
        while True:
            params: dict[str, Any] = {"start": start, "limit": AUX_PAGE}
            page = self._get(path, params, experimental=experimental)
            values = page.get("values") or []
            yield from values
            start += len(values)
            if not values or page.get("isLastPage", True):
                return


def _jira_messages(response: requests.Response) -> list[str]:
    """Jira's ``errorMessages`` plus ``errors`` as ``field: text`` (best effort)."""
    try:
        payload = response.json()
    except ValueError:
        return []
    if not isinstance(payload, dict):
        return []
    out: list[str] = []
    for message in payload.get("errorMessages") or []:
        if isinstance(message, str) and message:
            out.append(message)
    errors = payload.get("errors")
    if isinstance(errors, dict):
        for field, text in errors.items():
            out.append(f"{field}: {text}")
    elif isinstance(errors, list):  # JSM style: [{"message": ...}]
        for item in errors:
            if isinstance(item, dict) and item.get("message"):
                out.append(str(item["message"]))
    if not out and isinstance(payload.get("errorMessage"), str):  # JSM servicedeskapi
        out.append(payload["errorMessage"])
    return out
