"""The narrow interface between jsm-bridge and Jira.

Everything above this line speaks in these calls; exactly one adapter
(`bridge.jira.client.JiraClient`) implements them over HTTP.  Payloads are the
JSON dicts Jira returns (see `reference/` in the shared specs); this layer
knows nothing of rules, tiers or SLAs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Json = dict[str, Any]


@dataclass(frozen=True)
class SearchPage:
    """One page of an issue search as Jira answered it."""

    issues: list[Json]
    #: Jira said no page follows (Cloud: ``isLast`` or no ``nextPageToken``; Data Center:
    #: ``startAt`` plus the issues returned reach ``total``)
    last: bool


class JiraError(Exception):
    """A Jira call failed for good (after retries where retrying is safe).

    ``status`` is the HTTP status (None for connection failures); ``messages``
    are Jira's ``errorMessages`` plus ``errors`` rendered as ``field: text``.
    The text never contains credentials.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        messages: Sequence[str] = (),
        ambiguous: bool = False,
        config: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.messages = tuple(messages)
        #: True when a write may or may not have landed (connection dropped after sending)
        self.ambiguous = ambiguous
        #: True when the answer (or its absence) says the config is wrong whatever the
        #: status: a TLS certificate the bridge does not trust, https to a port that serves
        #: plain http (both found by the handshake), a 200 to a read whose body is not JSON
        #: (a login page, not Jira).  Never set for a write Jira may have taken
        self.config = config

    @property
    def refused(self) -> bool:
        """Jira certainly did not take the write this error is about: it answered with an
        error status (4xx; a 429 or 503 that turned it away), or no connection ever carried
        it (status None, not `ambiguous`).  Only then may a write's journal intent be
        forgotten: anything else -- `ambiguous`, or a 2xx whose body could not be read --
        may have landed and is checked on the issue before it is sent again."""
        if self.ambiguous:
            return False
        return self.status is None or self.status >= 400

    @property
    def permanent(self) -> bool:
        """Retrying will not help: a rejected token (401), a forbidden call (403), a
        rejected request such as a bad JQL query (400), a missing resource or method
        (404/405), a configuration problem (`config`) — someone must fix the config, the
        account or the site.  Only timeouts, dropped or refused connections (no status),
        408, 409, 429 and 5xx are passing trouble."""
        return self.config or (
            self.status is not None
            and 400 <= self.status < 500
            and self.status
            not in (
                408,
                409,
                429,
            )
        )


class JiraPort(Protocol):
    # -- site facts -------------------------------------------------------------------------
    def server_info(self) -> Json: ...
    def myself(self) -> Json: ...
    def fields(self) -> list[Json]: ...
    def priorities(self) -> list[Json]: ...
    def statuses(self) -> list[Json]: ...
    def find_users(self, query: str) -> list[Json]: ...
    def workflow_transition_names(self) -> set[str] | None:
        """Every transition name in the site's workflows, or None when the bridge cannot tell
        (its account may not read workflows, or the flavour offers no such listing)."""
        ...

    # -- reading issues -------------------------------------------------------------------
    def search(
        self,
        jql: str,
        fields: Sequence[str],
        *,
        properties: Sequence[str] = (),
        expand: Sequence[str] = (),
    ) -> Iterator[Json]:
        """Every issue matching ``jql``, page after page of the largest allowed size."""
        ...

    def search_pages(
        self,
        jql: str,
        fields: Sequence[str],
        *,
        properties: Sequence[str] = (),
        expand: Sequence[str] = (),
    ) -> Iterator[SearchPage]:
        """`search` a page at a time (at least one page, perhaps empty), each saying
        whether another follows; a page is asked for only when the previous one is done."""
        ...

    def get_issue(
        self,
        key: str,
        fields: Sequence[str] | None = None,
        *,
        properties: Sequence[str] = (),
        expand: Sequence[str] = (),
    ) -> Json: ...
    def changelog(self, key: str) -> Iterator[Json]: ...
    def comments(self, key: str) -> list[Json]: ...
    def transitions(self, key: str) -> list[Json]: ...
    def get_property(self, key: str, prop: str) -> Any | None: ...

    # -- writing ----------------------------------------------------------------------------
    def edit_issue(
        self,
        key: str,
        *,
        fields: Mapping[str, Any] | None = None,
        update: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        notify: bool = False,
    ) -> None:
        """One PUT /issue/{key}: every field change plus label add/remove verbs, and issue
        properties (key -> value) set in the same request (Cloud's edit accepts them)."""
        ...

    def add_comment(
        self, key: str, body: str, *, internal: bool, properties: Mapping[str, Any] | None = None
    ) -> Json: ...
    def do_transition(self, key: str, transition_id: str) -> None: ...
    def bulk_transition(self, moves: Mapping[str, Sequence[str]], *, patience: float) -> Json:
        """Many transitions in one request (Jira Cloud); see `JiraClient.bulk_transition`."""
        ...

    def set_property(self, key: str, prop: str, value: Any) -> None: ...

    # -- Service Management -------------------------------------------------------------------
    def organizations(self) -> Iterator[Json]: ...
    def organization_users(self, organization_id: str) -> Iterator[Json]: ...
    def service_desks(self) -> Iterator[Json]: ...
    def service_desk_customers(self, service_desk_id: str) -> Iterator[Json]: ...
    def request_participants(self, key: str) -> Iterator[Json]: ...
