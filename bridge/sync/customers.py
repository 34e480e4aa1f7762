"""Who is a customer, as Jira Service Management says.

On Jira Cloud every user carries ``accountType`` (``"customer"`` for portal customers),
so a user object alone tells a customer from an agent.  On Data Center a JSM customer is
an ordinary user with ``name``/``key``/``emailAddress`` and nothing else (Jira Server
platform REST API reference, "api/2/user"): who is a customer is what JSM lists —

* the service desks' customers: ``GET /rest/servicedeskapi/servicedesk/{id}/customer``
  (docs.atlassian.com/jira-servicedesk/REST/server, experimental);
* the members of the customer organisations: ``GET /rest/servicedeskapi/organization``
  and ``…/organization/{id}/user``.

A request's participants are customers of that request; they are read per request,
only where a comment's author is on none of these lists
(`bridge.sync.poll.unread`).  The organisation contacts named in the rules
count too.

`CustomerDirectory` reads those lists the first time a cycle asks, once per cycle
(`CustomerDirectory.next_cycle`): a cycle that reads no issue costs nothing.

`Memberships` answers which JSM organisations a user belongs to, on both flavours
(``GET /rest/servicedeskapi/organization`` and ``…/organization/{organizationId}/user``,
documented alike in the JSM Cloud REST API, "Organization", and the JSM Server/Data
Center REST API): a case whose organisation field is empty belongs to the customer
whose organisation holds its reporter (SPEC §3).  Read the first time a cycle meets
such a case, once per cycle; on Data Center `CustomerDirectory` shares that read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

import structlog

from bridge.jira.port import JiraPort

log = structlog.get_logger("jsm_bridge.customers")


def identities(user: Mapping[str, Any]) -> set[str]:
    """Every way a user object names its user, case-folded (id, name, key, e-mail)."""
    return {
        str(v).casefold()
        for v in (
            user.get("accountId"),
            user.get("name"),
            user.get("key"),
            user.get("emailAddress"),
        )
        if v
    }


class Memberships:
    """Which JSM organisations each user belongs to (loaded on first use, per cycle)."""

    def __init__(self, port: JiraPort) -> None:
        self.port = port
        self._of: dict[str, tuple[str, ...]] | None = None
        #: reads made to load the lists, in the process's life (for the log and tests)
        self.loads = 0

    def next_cycle(self) -> None:
        """Forget the lists: the next question reads them afresh."""
        self._of = None

    def _load(self) -> dict[str, tuple[str, ...]]:
        if self._of is None:
            found: dict[str, tuple[str, ...]] = {}
            orgs = 0
            for org in self.port.organizations():
                orgs += 1
                name = str(org.get("name") or "")
                for user in self.port.organization_users(str(org.get("id"))):
                    for identity in identities(user):
                        found[identity] = (*found.get(identity, ()), name)
            self.loads += 1
            log.info("organisation members read", organizations=orgs, members=len(found))
            self._of = found
        return self._of

    def organizations_of(self, *identity: str | None) -> tuple[str, ...]:
        """The organisations any of these identities (e-mail, account id, name) is in."""
        known = self._load()
        names = (n for i in identity if i for n in known.get(i.casefold(), ()))
        return tuple(dict.fromkeys(names))

    def members(self) -> frozenset[str]:
        """Every member's identities, case-folded."""
        return frozenset(self._load())


class CustomerDirectory(Collection[str]):
    """The case-folded identities of every customer (a collection, loaded on first use)."""

    def __init__(
        self, port: JiraPort, contacts: Iterable[str] = (), memberships: Memberships | None = None
    ) -> None:
        self.port = port
        self.contacts = frozenset(c.casefold() for c in contacts)
        self.memberships = memberships if memberships is not None else Memberships(port)
        self._known: frozenset[str] | None = None
        #: reads made to load the lists, in the process's life (for the log and tests)
        self.loads = 0

    def next_cycle(self) -> None:
        """Forget the lists: the next question reads them afresh."""
        self._known = None
        self.memberships.next_cycle()

    def _load(self) -> frozenset[str]:
        if self._known is None:
            found: set[str] = set(self.contacts)
            desks = 0
            for desk in self.port.service_desks():
                desks += 1
                for user in self.port.service_desk_customers(str(desk.get("id"))):
                    found |= identities(user)
            found |= self.memberships.members()
            self.loads += 1
            log.info("customers read", service_desks=desks, found=len(found))
            self._known = frozenset(found)
        return self._known

    def __contains__(self, identity: object) -> bool:
        return isinstance(identity, str) and identity.casefold() in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())
