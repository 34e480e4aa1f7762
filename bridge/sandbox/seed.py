"""Seeds: the demo world (see the project's demo-world notes), an empty site, and a generator.

* :func:`site` — metadata only: users, fields, priorities, workflow, request types,
  organisations.  This is the ``empty`` seed.
* :func:`demo` — the site plus about forty cases across the sandbox clock's current
  month (and a few from last month) that exercise every clause of the support
  policy.  Deterministic for a given ``now``; the demo world's own moment is
  :data:`DEMO_NOW`, so `jsm-bridge demo` tells the same story on any day.
* :func:`generate` — N more cases, fast (10,000 in well under two seconds), for benchmarks.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bridge.sandbox.store import (
    Comment,
    Issue,
    Priority,
    RequestType,
    Resolution,
    Status,
    Store,
    Transition,
    User,
)

#: The demo world's own moment: a Tuesday morning in Brisbane (the site's zone), late in
#: a month, the London and New York offices' Monday just behind them.  `demo` and the
#: ``demo`` seed use it unless given another, so the story never depends on the day it
#: is told.
DEMO_NOW = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Australia/Brisbane"))

BRIDGE_EMAIL = "bridge@vendor.example"
BRIDGE_TOKEN = "sandbox-token"
AGENT_TOKEN = "agent-token"
CUSTOMER_TOKEN = "customer-token"
_NS = uuid.UUID("6f1c7a52-4b0e-4f4e-9d1e-2a3b4c5d6e7f")

AGENTS = [
    ("jane.engineer@vendor.example", "Jane Engineer"),
    ("sam.agent@vendor.example", "Sam Agent"),
    ("priya.lead@vendor.example", "Priya Lead"),
]
ORGANIZATIONS: dict[str, list[tuple[str, str]]] = {
    "Acme Networks": [
        ("ops@acme.example", "Acme Operations"),
        ("intern@acme.example", "Alex Intern"),
    ],
    "Initech Systems": [
        ("it@initech.example", "Initech IT"),
        ("support@initech.example", "Initech Support Desk"),
        ("bob@initech.example", "Bob Slydell"),
    ],
    "Globex Telecom": [
        ("noc@globex.example", "Globex NOC"),
        ("lead@globex.example", "Hank Scorpio"),
        ("cto@globex.example", "Globex CTO"),
    ],
    "Umbrella Labs": [("help@umbrella.example", "Umbrella Helpdesk")],
}
REQUEST_TYPES = [
    "Technical support",
    "Installation",
    "Request for information",
    "Feature request",
    "Cosmetic defect",
    "Screen share session",
    "Architecture workshop",
    "Product webinar",
    "Development plan input",
]
# status name -> (id, category)
STATUSES = {
    "Open": ("1", "new"),
    "Work in progress": ("3", "indeterminate"),
    "Waiting for customer": ("10001", "indeterminate"),
    "Escalated": ("10002", "indeterminate"),
    "Pending approval": ("10003", "new"),
    "Resolved": ("5", "done"),
    "Closed": ("6", "done"),
}


def account_id(email: str, customer: bool = False) -> str:
    u = uuid.uuid5(_NS, email.lower())
    if customer:
        return f"qm:{u}:{uuid.uuid5(_NS, 'portal:' + email.lower())}"
    return f"712020:{u}"


def site(store: Store) -> Store:
    """Site metadata (the ``empty`` seed)."""
    s = store
    s.add_user(
        User(
            account_id(BRIDGE_EMAIL),
            BRIDGE_EMAIL,
            "jsm-bridge",
            token=BRIDGE_TOKEN,
            pat=BRIDGE_TOKEN,
            admin=True,
        )
    )
    for email, name in AGENTS:
        s.add_user(
            User(
                account_id(email), email, name, token=AGENT_TOKEN, pat=f"pat-{email.split('@')[0]}"
            )
        )
    for members in ORGANIZATIONS.values():
        for email, name in members:
            s.add_user(
                User(
                    account_id(email, customer=True),
                    email,
                    name,
                    account_type="customer",
                    token=CUSTOMER_TOKEN,
                    pat=f"pat-{email.split('@')[0]}-{email.split('@')[1].split('.')[0]}",
                )
            )
    # system fields (ids as on every Jira site)
    for fid, name, kind in [
        ("summary", "Summary", "summary"),
        ("description", "Description", "description"),
        ("issuetype", "Issue Type", "issuetype"),
        ("project", "Project", "project"),
        ("status", "Status", "status"),
        ("priority", "Priority", "priority"),
        ("resolution", "Resolution", "resolution"),
        ("resolutiondate", "Resolved", "datetime"),
        ("reporter", "Reporter", "user"),
        ("assignee", "Assignee", "user"),
        ("creator", "Creator", "user"),
        ("labels", "Labels", "labels"),
        ("created", "Created", "datetime"),
        ("updated", "Updated", "datetime"),
        ("statuscategorychangedate", "Status Category Changed", "statuscategorychangedate"),
        ("comment", "Comment", "comment"),
        ("issuekey", "Key", "issuekey"),
    ]:
        f = s.add_field(name, kind, field_id=fid)
        if fid == "comment":
            f.navigable = False
        if fid in ("comment", "description", "labels"):
            f.orderable = fid != "comment"
    s.add_field("Request Type", "requesttype", field_id="customfield_10010")
    s.add_field("Organizations", "organizations", field_id="customfield_10002")
    s.next_custom_id = 10040
    s.add_field("Response due", "datetime")
    s.add_field(
        "SLA state", "select", ["running", "at_risk", "breached", "met", "missed", "paused", "none"]
    )
    s.add_field("Support tier", "select", ["Standard", "Premium", "Enterprise"])
    s.add_field("Cases this month", "text")
    s.add_field("Environment type", "select", ["Production", "Staging", "Development", "Test"])
    s.add_field("Staff available", "select", ["Yes", "No"])
    s.add_field("Product", "select", ["NMIS", "Open-AudIT", "opCharts", "opEvents"])
    s.add_field("Product version", "text")
    s.add_field("Impact", "textarea")
    s.add_field("Contact phone", "text")
    s.add_field("Skype", "text")  # "phone number (or skype)": the support terms' contact line

    s.priorities = [
        Priority("1", "Blocker", "#d04437", "Blocks development and/or testing work."),
        Priority("2", "Critical", "#f15c75", "Crashes, loss of data, severe memory leak."),
        Priority("3", "Major", "#f79232", "Major loss of function.", is_default=True),
        Priority("4", "Minor", "#707070", "Minor loss of function, or easily worked around."),
        Priority("5", "Trivial", "#cccccc", "Cosmetic problem."),
    ]
    s.statuses = {sid: Status(sid, name, cat) for name, (sid, cat) in STATUSES.items()}
    s.initial_status = "1"
    st = {name: sid for name, (sid, _) in STATUSES.items()}
    s.resolutions = [
        Resolution("10000", "Done", "Work has been completed on this issue."),
        Resolution("10001", "Duplicate", "The problem is a duplicate of an existing issue."),
        Resolution("10002", "Raised in error", "The case should not have been raised."),
        Resolution("10003", "Won't do", "This issue won't be actioned."),
    ]
    s.transitions = [
        Transition(
            "11",
            "Start work",
            st["Work in progress"],
            [st["Open"], st["Escalated"], st["Pending approval"]],
        ),
        Transition(
            "21",
            "Wait for customer",
            st["Waiting for customer"],
            [st["Open"], st["Work in progress"], st["Escalated"]],
        ),
        Transition(
            "31", "Customer responded", st["Work in progress"], [st["Waiting for customer"]]
        ),
        Transition(
            "41",
            "Escalate",
            st["Escalated"],
            [st["Open"], st["Work in progress"], st["Waiting for customer"]],
        ),
        Transition("51", "Needs approval", st["Pending approval"], [st["Open"]]),
        Transition("61", "Approve", st["Open"], [st["Pending approval"]]),
        Transition(
            "71", "Resolve", st["Resolved"], [], resolution_field=True, default_resolution="10000"
        ),
        Transition("81", "Close", st["Closed"], [st["Resolved"]]),
        Transition(
            "91", "Reopen", st["Open"], [st["Resolved"], st["Closed"]], clears_resolution=True
        ),
    ]
    for i, name in enumerate(REQUEST_TYPES):
        rid = str(i + 1)
        key = name.lower().replace(" ", "-")
        s.request_types[rid] = RequestType(rid, name, f"{name} for our products.", key)
    for org_name, members in ORGANIZATIONS.items():
        s.add_organization(org_name, [account_id(e, customer=True) for e, _ in members])
    return s


# --------------------------------------------------------------------------- demo cases


@dataclass
class Case:
    """One demo case: who raised what, and what happened to it since."""

    org: str | None
    reporter: str
    summary: str
    request_type: str
    priority: str
    env: str | None = "Production"
    staff: str | None = "Yes"
    product: str | None = "NMIS"
    version: str | None = "9.5.1"
    impact: str | None = "Polling gaps on the core network; operators are blind to outages."
    phone: str | None = "+61 7 3000 0000"
    skype: str | None = None
    day: float = 1.0  # days after the start of the month (negative: last month)
    #: the local time of day it was raised at in its customer's office (default: one
    #: spread over the office hours by ``day``)
    at: tuple[int, int] | None = None
    events: tuple[tuple[Any, ...], ...] = ()  # (hours after creation, verb, who, arg)
    #: the defect chapter: raised this many hours before the demo's moment (after every
    #: case placed by ``day``, so those keep their keys)
    ago: float | None = None


def _cases() -> list[Case]:
    j, sam, priya = AGENTS[0][0], AGENTS[1][0], AGENTS[2][0]
    acme, ini, glx, umb = "Acme Networks", "Initech Systems", "Globex Telecom", "Umbrella Labs"
    return [
        # -- last month (not counted in this month's quota)
        Case(
            acme,
            "ops@acme.example",
            "NMIS backup job fails with disk full",
            "Technical support",
            "Major",
            day=-12,
            events=(
                (2, "comment", j, "Clearing old RRD archives fixed it; resolving."),
                (3, "resolve", j, "Done"),
            ),
        ),
        Case(
            acme,
            "ops@acme.example",
            "License key for the DR server",
            "Request for information",
            "Minor",
            day=-5,
            product="NMIS",
            events=((5, "comment", sam, "Key sent by e-mail."), (6, "resolve", sam, "Done")),
        ),
        Case(
            glx,
            "noc@globex.example",
            "opEvents escalation e-mails delayed",
            "Technical support",
            "Critical",
            day=-8,
            product="opEvents",
            version="4.2.0",
            events=(
                (1, "comment", j, "Mail relay was throttling us; fixed."),
                (2, "resolve", j, "Done"),
                (30, "close", j, None),
            ),
        ),
        Case(
            ini,
            "it@initech.example",
            "Upgrade path from opCharts 4 to 5",
            "Request for information",
            "Minor",
            day=-3,
            product="opCharts",
            version="4.7.2",
        ),
        # -- Acme (standard: 1 contact, 4 cases a month): six cases this month → over quota
        Case(
            acme,
            "ops@acme.example",
            "NMIS poller stops collecting after upgrade to 9.5",
            "Technical support",
            "Major",
            day=0.4,
            events=(
                (1, "comment", j, "Looking at the poller logs now; can you attach nmis.log?"),
                (1.5, "transition", j, "Start work"),
            ),
        ),
        Case(
            acme,
            "ops@acme.example",
            "Open-AudIT discovery misses Cisco switches",
            "Technical support",
            "Critical",
            day=1.2,
            product="Open-AudIT",
            version="5.3.0",
            events=(
                (
                    50,
                    "comment",
                    sam,
                    "Sorry for the delay: the SNMP community on the switches is read-only v1.",
                ),
            ),
        ),
        Case(
            acme,
            "intern@acme.example",
            "Cannot log in to the opCharts dashboard",
            "Technical support",
            "Major",
            day=2.3,
            product="opCharts",
            version="5.1.0",
        ),
        Case(
            acme,
            "ops@acme.example",
            "Screen share to walk through opEvents rules",
            "Screen share session",
            "Minor",
            day=3.1,
            product="opEvents",
            version="4.2.0",
        ),
        Case(
            acme,
            "ops@acme.example",
            "Install NMIS 9 on Red Hat Enterprise Linux 9",
            "Installation",
            "Critical",
            day=4.0,
            version="9.5.1",
        ),
        Case(
            acme,
            "ops@acme.example",
            "opEvents raises duplicate alerts for one outage",
            "Technical support",
            "Major",
            day=5.2,
            product="opEvents",
            version="4.2.0",
            events=(
                # asked for logs by phone (an internal note, not a response), then parked in
                # Waiting for customer: no agent has replied publicly, so the clock runs on
                (
                    1,
                    "comment_internal",
                    j,
                    "Called Acme: they will send the 10:00-11:00 event log.",
                ),
                (1.1, "transition", j, "Wait for customer"),
            ),
        ),
        Case(
            acme,
            "ops@acme.example",
            "Staging poller is down",
            "Technical support",
            "Blocker",
            env="Staging",
            day=6.0,
        ),
        # -- Initech (premium: 2 contacts, 12 cases)
        Case(
            ini,
            "it@initech.example",
            "Core network outage: every node down in NMIS",
            "Technical support",
            "Blocker",
            staff="No",
            day=0.9,
            at=(14, 31),
        ),
        Case(
            ini,
            "support@initech.example",
            "Export opCharts dashboards to PDF",
            "Feature request",
            "Blocker",
            product="opCharts",
            version="5.1.0",
            day=1.6,
        ),
        Case(
            ini,
            "it@initech.example",
            "Polling stopped after the weekend",
            "Technical support",
            "Major",
            product=None,
            version=None,
            impact=None,
            phone=None,
            day=2.1,
        ),
        Case(
            ini,
            "it@initech.example",
            "Event correlation misfires on link flaps",
            "Technical support",
            "Major",
            product="opEvents",
            version="4.1.3",
            day=2.6,
            events=(
                (0.5, "priority", j, "Critical"),
                (0.6, "comment", j, "Raising this: it hides real outages."),
            ),
        ),
        Case(
            ini,
            "bob@initech.example",
            "Please add me to the support portal",
            "Request for information",
            "Minor",
            day=3.4,
        ),
        Case(
            ini,
            "support@initech.example",
            "Screen share to design the NOC dashboard",
            "Screen share session",
            "Minor",
            product="opCharts",
            version="5.1.0",
            day=3.9,
        ),
        Case(
            ini,
            "it@initech.example",
            "NMIS poller stops collecting (again)",
            "Technical support",
            "Major",
            day=4.4,
            events=(
                (
                    1,
                    "comment",
                    sam,
                    "This is the same fault as the earlier case; closing as duplicate.",
                ),
                (1.2, "resolve", sam, "Duplicate"),
            ),
        ),
        Case(
            ini,
            "support@initech.example",
            "Which ports does opCharts need open?",
            "Request for information",
            "Major",
            product="opCharts",
            version="5.1.0",
            day=4.9,
        ),
        Case(
            ini,
            "it@initech.example",
            "Graph legend overlaps the axis labels",
            "Cosmetic defect",
            "Critical",
            product="opCharts",
            version="5.1.0",
            day=5.5,
        ),
        Case(
            ini,
            "support@initech.example",
            "Thresholds ignored for interface utilisation",
            "Technical support",
            "Critical",
            day=6.3,
            version="Version",
            product="NMIS",
            events=(
                (
                    0.25,
                    "comment",
                    priya,
                    "Threshold cache was stale; restarted nmisd and confirmed alerts fire.",
                ),
                (1, "transition", priya, "Start work"),
            ),
        ),
        Case(
            ini,
            "it@initech.example",
            "Raise to P1 please: billing NOC view empty",
            "Technical support",
            "Critical",
            day=6.8,
            events=(
                (0.2, "comment_internal", sam, "Checked the NOC view: the data source is fine."),
            ),
        ),
        # -- Globex (enterprise: 3 contacts, 20 cases, named engineer Jane)
        Case(
            glx,
            "noc@globex.example",
            "BGP peers flapping: opEvents floods the console",
            "Technical support",
            "Blocker",
            product="opEvents",
            version="4.2.0",
            # defect 5: Tuesday 3 November, Election Day, which New York State lists as a
            # holiday and New York businesses work: the shipped calendar leaves it out,
            # so the clock runs that day (explain names it)
            day=0.85,
            at=(9, 20),
            phone="+1 212 555 0100",
        ),
        Case(
            glx,
            "lead@globex.example",
            "Architecture workshop for multi-site polling",
            "Architecture workshop",
            "Minor",
            day=1.4,
            phone="+1 212 555 0101",
        ),
        Case(
            glx,
            "cto@globex.example",
            "Product webinar on opCharts 5 for the NOC team",
            "Product webinar",
            "Minor",
            product="opCharts",
            version="5.1.0",
            day=2.2,
            phone="+1 212 555 0102",
        ),
        Case(
            glx,
            "noc@globex.example",
            "SNMP traps not reaching opEvents",
            "Technical support",
            "Critical",
            product="opEvents",
            version="4.2.0",
            day=2.9,
            phone="+1 212 555 0100",
            events=(
                (0, "assign", sam, None),
                (0.5, "comment", sam, "Trap receiver was bound to IPv6 only; fixed."),
                (0.6, "transition", sam, "Start work"),
            ),
        ),
        Case(
            glx,
            "noc@globex.example",
            "Development plan input: REST API pagination",
            "Development plan input",
            "Minor",
            day=3.7,
            phone="+1 212 555 0100",
        ),
        Case(
            glx,
            "lead@globex.example",
            "Dashboard widgets take 30 seconds to load",
            "Technical support",
            "Major",
            product="opCharts",
            version="5.1.0",
            day=4.6,
            phone="+1 212 555 0101",
            events=((1, "transition", j, "Escalate"),),
        ),
        Case(
            glx,
            "noc@globex.example",
            "Node import from CSV rejects IPv6 addresses",
            "Technical support",
            "Major",
            day=5.7,
            phone="+1 212 555 0100",
            events=((26, "comment_customer", "noc@globex.example", "Any update on this?"),),
        ),
        Case(
            glx,
            "cto@globex.example",
            "Renewal: confirm our enterprise entitlements",
            "Request for information",
            "Minor",
            day=6.6,
            phone="+1 212 555 0102",
            events=((0.5, "transition", priya, "Needs approval"),),
        ),
        # -- Umbrella Labs (no agreement on file)
        Case(
            umb,
            "help@umbrella.example",
            "Trial licence will not activate",
            "Technical support",
            "Major",
            day=1.9,
            product="Open-AudIT",
            version="5.3.0",
        ),
        Case(
            umb,
            "help@umbrella.example",
            "Pricing for 500 nodes",
            "Request for information",
            "Minor",
            day=5.0,
            product=None,
            version=None,
        ),
        # -- more everyday traffic
        Case(
            ini,
            "it@initech.example",
            "Interface descriptions not updating",
            "Technical support",
            "Minor",
            day=7.2,
            events=(
                (2, "comment", j, "Fixed by enabling the ifAlias collection."),
                (2.5, "resolve", j, "Done"),
            ),
        ),
        Case(
            glx,
            "noc@globex.example",
            "opCharts map shows stale link colours",
            "Cosmetic defect",
            "Minor",
            product="opCharts",
            version="5.1.0",
            day=7.9,
            phone="+1 212 555 0100",
        ),
        Case(
            ini,
            "support@initech.example",
            "Mail notifications go to spam",
            "Technical support",
            "Minor",
            day=8.5,
        ),
        Case(
            glx,
            "lead@globex.example",
            "Raised in error: wrong vendor",
            "Technical support",
            "Minor",
            day=9.1,
            phone="+1 212 555 0101",
            events=((0.3, "resolve", priya, "Raised in error"),),
        ),
        Case(
            acme,
            "ops@acme.example",
            "Test lab collector keeps restarting",
            "Technical support",
            "Critical",
            env="Test",
            day=8.2,
            at=(10, 15),
        ),
        Case(
            glx,
            "noc@globex.example",
            "Development environment: poller memory leak",
            "Technical support",
            "Major",
            env="Development",
            day=9.3,
            phone="+1 212 555 0100",
        ),
        Case(
            ini,
            "it@initech.example",
            "Environment not stated: discovery slow",
            "Technical support",
            "Major",
            env=None,
            day=11.0,
            at=(11, 20),
        ),
        Case(
            glx,
            "cto@globex.example",
            "Quarterly service review agenda",
            "Request for information",
            "Minor",
            day=9.5,
            phone="+1 212 555 0102",
            events=((0.5, "comment", j, "Draft agenda attached; we will confirm the date."),),
        ),
    ]


#: How long before the demo's moment its defect chapter begins (Monday 13:50 UTC at
#: :data:`DEMO_NOW`: New York opening, London's afternoon); the other cases come before.
CHAPTER_HOURS = 10.17


def _defect_cases() -> list[Case]:
    """One case per defect the support terms' review found (issue 12's list; defect 5's
    Election Day case is among this month's cases, on 3 November), each a working-day
    story: raised and answered in its customer's office hours.  At the demo's
    own moment (Tue 24 Nov 10:00 Brisbane) London's and New York's Monday has just ended,
    so their cases were raised that Monday; Acme's on Tuesday morning in Brisbane."""
    j, sam, priya = AGENTS[0][0], AGENTS[1][0], AGENTS[2][0]
    acme, ini, glx = "Acme Networks", "Initech Systems", "Globex Telecom"
    ny, ldn = "+1 212 555 0100", "+44 20 7946 0018"
    return [
        # -- London, Monday 23 November (GMT)
        Case(  # defect 7: placeholder answers ("Version", "n/a") are missing information
            ini,
            "it@initech.example",
            "Graphs stopped after the upgrade",
            "Technical support",
            "Major",
            version="Version",
            impact="n/a",
            phone=ldn,
            ago=9.83,  # 14:10 London
        ),
        Case(  # defect 14: an engineer's "Trivial" is P4, not outside P1-P4
            ini,
            "support@initech.example",
            "Typo on the opCharts login page",
            "Cosmetic defect",
            "Minor",
            product="opCharts",
            version="5.1.0",
            phone=ldn,
            ago=9.58,  # 14:25 London
            events=((0.4, "priority", priya, "Trivial"),),
        ),
        Case(  # defect 4: a case from someone not on the contact list uses no quota
            ini,
            "bob@initech.example",
            "Scheduled report export times out",
            "Technical support",
            "Major",
            phone=ldn,
            ago=9.33,  # 14:40 London
        ),
        Case(  # defect 8: a customer's own move to Work in progress is not a response
            ini,
            "it@initech.example",
            "Alarm flood after the maintenance window",
            "Technical support",
            "Critical",
            product="opEvents",
            version="4.2.0",
            phone=ldn,
            ago=9.08,  # 14:55 London
            events=((0.3, "transition", "it@initech.example", "Start work"),),
        ),
        Case(  # defect 6: each escalation step once, whatever pauses come between
            ini,
            "support@initech.example",
            "Poller in a crash loop on the core site",
            "Technical support",
            "Blocker",
            phone=ldn,
            ago=8.83,  # 15:10 London
            events=(
                (0.5, "comment_internal", priya, "Asked Initech for the crash dump by phone."),
                (0.6, "transition", priya, "Wait for customer"),
                (1.2, "comment_customer", "support@initech.example", "Crash dump attached."),
                (1.3, "transition", "support@initech.example", "Customer responded"),
            ),
        ),
        Case(  # defect 9: the engineer's priority stands; the customer's later change goes back
            ini,
            "it@initech.example",
            "Dashboard export to PDF fails for one user",
            "Technical support",
            "Major",
            product="opCharts",
            version="5.1.0",
            phone=ldn,
            ago=8.67,  # 15:20 London
            events=(
                (0.3, "priority", priya, "Minor"),
                (0.4, "comment", priya, "Setting P4: exporting from another browser works."),
                (1.0, "priority", "it@initech.example", "Critical"),
            ),
        ),
        Case(  # defect 13: a Premium P1 nobody has picked up brings in its escalation owner
            ini,
            "it@initech.example",
            "Every node shows unreachable in NMIS",
            "Technical support",
            "Blocker",
            phone=ldn,
            ago=10.08,  # 13:55 London; by 17:00 past 75 % of its 4 hours
        ),
        # -- New York, Monday 23 November (EST)
        Case(  # defect 2: an empty Environment is missing information, not a silent P4
            glx,
            "noc@globex.example",
            "All collectors down after the data centre failover",
            "Technical support",
            "Blocker",
            env=None,
            product="NMIS",
            phone=ny,
            ago=9.5,  # 09:30 New York
        ),
        Case(  # defect 10: once an engineer unassigned it, the case is not assigned again
            glx,
            "lead@globex.example",
            "Discovery skips the DMZ subnet",
            "Technical support",
            "Major",
            product="Open-AudIT",
            version="5.3.0",
            phone="+1 212 555 0101",
            ago=8.92,  # 10:05 New York
            events=(
                (0.2, "assign", sam, None),
                (0.6, "comment", sam, "Back to the queue: Jane knows the DMZ set-up best."),
                (0.7, "unassign", sam, None),
            ),
        ),
        Case(  # defect 11: answered at the very instant it was due: met, not breached
            glx,
            "cto@globex.example",
            "Escalation policy ignores the on-call rota",
            "Technical support",
            "Critical",
            product="opEvents",
            version="4.2.0",
            phone="+1 212 555 0102",
            ago=8.5,  # 10:30 New York; P2: 6 business hours, due 16:30
            events=((6.0, "comment", j, "Found it: the rota's time zone was UTC. Fixed."),),
        ),
        Case(  # defect 12: a case resolved the same morning still counts in the month
            glx,
            "noc@globex.example",
            "Licence file for the new collector",
            "Request for information",
            "Minor",
            phone=ny,
            ago=8.0,  # 11:00 New York
            events=(
                (0.5, "comment", j, "Licence file attached."),
                (0.6, "resolve", j, "Done"),
            ),
        ),
        Case(  # defect 1: raised by Globex's contact without picking an organisation:
            # Globex's case all the same (found from the reporter's e-mail), with its SLA
            None,
            "noc@globex.example",
            "opCharts e-mails every report twice",
            "Technical support",
            "Major",
            product="opCharts",
            version="5.1.0",
            phone=ny,
            ago=7.0,  # 12:00 New York
        ),
        Case(  # defect 5: a next-business-day case in New York's own calendar
            glx,
            "lead@globex.example",
            "Plan the opEvents upgrade before Thanksgiving",
            "Request for information",
            "Minor",
            product="opEvents",
            version="4.2.0",
            phone="+1 212 555 0101",
            ago=2.3,  # 16:42 New York
        ),
        # -- Brisbane, Tuesday 24 November (AEST)
        Case(  # defect 3: over its quota, held for approval: no clock while held
            acme,
            "ops@acme.example",
            "Add a second NMIS poller for the new site",
            "Installation",
            "Major",
            ago=0.9,  # 09:06 Brisbane
        ),
    ]


#: each demo customer's office (its calendar's zone in the shipped rules)
OFFICE_ZONES = {
    "Acme Networks": "Australia/Brisbane",
    "Initech Systems": "Europe/London",
    "Globex Telecom": "America/New_York",
}


def demo(store: Store, now: datetime | None = None) -> Store:
    """The demo world: site metadata plus ~40 cases relative to the clock's ``now``."""
    site(store)
    now = now or store.now()
    tz = store.site_tz
    local = now.astimezone(tz)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    span = max((local - month_start).total_seconds(), 3600.0)
    cases = _cases()
    this_month = [c for c in cases if c.day >= 0]
    # Most older cases have had a first reply (a real desk answers most cases); every
    # third one with no history of its own stays unanswered and shows the escalation.
    quiet = [c for c in this_month if not c.events and c.day < 0.6 * max(x.day for x in this_month)]
    for n, c in enumerate(quiet):
        if n % 3:
            agent = AGENTS[n % len(AGENTS)][0]
            c.events = ((1.5, "comment", agent, "Thanks, we are looking into this now."),)
    last_day = max(c.day for c in this_month) + 1
    bridge = store.user_by_email(BRIDGE_EMAIL)
    assert bridge is not None
    planned: list[tuple[datetime, Case]] = []
    for c in sorted((c for c in cases if c.day < 0), key=lambda c: c.day):
        # last month: mid-morning in the customer's own office, on a working day
        day = (month_start + timedelta(days=c.day)).astimezone(_office(c, tz))
        day = day.replace(hour=10, minute=0, second=0, microsecond=0)
        while day.weekday() >= 5:  # on the Friday before, not at the weekend
            day -= timedelta(days=1)
        planned.append((day, c))
    # this month's cases, in their listed order (keys follow creation, as on a real
    # site), spread over the part of the month that has passed, denser towards now (the
    # newest cases still have their clocks running), each in its customer's office hours
    # on a working day, in the customer's own zone; a case that would come before the
    # one listed ahead of it is raised a little after it, in its own office's hours
    previous = month_start
    for c in sorted(this_month, key=lambda c: c.day):
        age = (1.0 - (c.day + 0.05) / last_day) ** 1.6
        office = (local - timedelta(seconds=span * age)).astimezone(_office(c, tz))
        minutes = int(c.day * 977) % (OFFICE_CLOSE - OFFICE_OPEN - 30)
        if c.at is not None:
            minutes = c.at[0] * 60 + c.at[1] - OFFICE_OPEN
        created = office.replace(hour=OFFICE_OPEN // 60, minute=0) + timedelta(minutes=minutes)
        while created.weekday() >= 5:  # raised on the Friday before, not at the weekend
            created -= timedelta(days=1)
        if created <= previous:
            created = _office_time((previous + timedelta(minutes=7)).astimezone(office.tzinfo))
        planned.append((created, c))
        previous = created
    # none in the defect chapter's working day (which follows), nor in the future: at
    # the demo's own moment none is; early in another month the last ones are pulled
    # back, a minute apart (then outside office hours: the month has too few days)
    latest = max(month_start + timedelta(minutes=1), local - timedelta(hours=CHAPTER_HOURS))
    latest = min(latest, local - timedelta(minutes=1))
    for i in range(len(planned) - 1, -1, -1):
        created, c = planned[i]
        if created > latest and c.day >= 0:
            planned[i] = (latest.astimezone(created.tzinfo), c)
        latest = planned[i][0] - timedelta(minutes=1)
    for created, c in planned:
        _create(store, c, created.astimezone(tz), now, bridge)
    # the defect chapter, after every case above (whose keys stay as they were)
    last = planned[-1][0] if planned else month_start
    for c in sorted(_defect_cases(), key=lambda c: -(c.ago or 0.0)):
        created = max(now - timedelta(hours=c.ago or 0.0), last + timedelta(minutes=1))
        last = created.replace(microsecond=0)
        _create(store, c, last, now, bridge)
    return store


#: a demo customer's office hours, in minutes after midnight in its own zone: the
#: support terms' business hours ("0900 to 1700 Monday to Friday")
OFFICE_OPEN, OFFICE_CLOSE = 9 * 60, 17 * 60


def _office(c: Case, site_tz: ZoneInfo) -> ZoneInfo:
    return ZoneInfo(OFFICE_ZONES.get(c.org or _reporter_org(c.reporter) or "", site_tz.key))


def _reporter_org(email: str) -> str | None:
    return next((org for org, people in ORGANIZATIONS.items() if email in dict(people)), None)


def _office_time(at: datetime) -> datetime:
    """``at`` (in an office's zone), or the office's next working minute after it: office
    hours on a weekday, and not in the last half hour (a case is answered the same day)."""
    at = at.replace(second=0, microsecond=0)
    minute = at.hour * 60 + at.minute
    if minute < OFFICE_OPEN:
        at = at.replace(hour=OFFICE_OPEN // 60, minute=OFFICE_OPEN % 60)
    elif minute >= OFFICE_CLOSE - 30:
        at = (at + timedelta(days=1)).replace(hour=OFFICE_OPEN // 60, minute=7)
    while at.weekday() >= 5:
        at = (at + timedelta(days=1)).replace(hour=OFFICE_OPEN // 60, minute=7)
    return at


def _create(store: Store, c: Case, created: datetime, now: datetime, bridge: User) -> Issue:
    reporter = store.user_by_email(c.reporter)
    assert reporter is not None
    f = store.field_by_name
    values: dict[str, Any] = {
        "summary": c.summary,
        "description": f"{c.summary}.\n\nReported through the customer portal by {reporter.display_name}.",
        "priority": _pid(store, c.priority),
        "reporter": reporter.account_id,
    }
    if c.org is not None:  # a customer may raise a case without picking one
        org = store.organization_by_name(c.org)
        assert org is not None
        values[_fid(f("Organizations"))] = [org.id]
    rt = store.request_type_by_name(c.request_type)
    assert rt is not None
    values[_fid(store.field_of_kind("requesttype"))] = rt.id
    for name, val in (
        ("Environment type", c.env),
        ("Staff available", c.staff),
        ("Product", c.product),
    ):
        fld = f(name)
        assert fld is not None
        opt = fld.option_by_value(val) if val else None
        values[fld.id] = opt.id if opt else None
    values[_fid(f("Product version"))] = c.version
    values[_fid(f("Impact"))] = c.impact
    values[_fid(f("Contact phone"))] = c.phone
    values[_fid(f("Skype"))] = c.skype
    issue = store.create_issue(reporter, values, at=created)
    for hours, verb, who, arg in c.events:
        at = created + timedelta(hours=hours)
        if at > now:
            continue
        actor = store.user_by_email(who)
        assert actor is not None
        if verb == "comment" or verb == "comment_customer":
            store.add_comment(issue, actor, arg, at=at)
        elif verb == "comment_internal":
            store.add_comment(
                issue, actor, arg, properties={"sd.public.comment": {"internal": True}}, at=at
            )
        elif verb == "priority":
            store.apply_changes(issue, actor, {"priority": _pid(store, arg)}, at=at)
        elif verb == "assign":
            store.apply_changes(issue, actor, {"assignee": actor.account_id}, at=at)
        elif verb == "unassign":
            store.apply_changes(issue, actor, {"assignee": None}, at=at)
        elif verb in ("transition", "resolve", "close"):
            name = {"resolve": "Resolve", "close": "Close"}.get(verb, arg)
            t = next(t for t in store.transitions_for(issue) if t.name == name)
            res = store.resolution_by_name(arg).id if verb == "resolve" and arg else None  # type: ignore[union-attr]
            if issue.values.get("assignee") is None and not actor.is_customer:
                store.apply_changes(issue, actor, {"assignee": actor.account_id}, at=at)
            store.transition(issue, actor, t, resolution=res, at=at)
    return issue


def _pid(store: Store, name: str) -> str:
    p = store.priority_by_name(name)
    assert p is not None
    return p.id


def _fid(field: Any) -> str:
    assert field is not None
    return str(field.id)


# --------------------------------------------------------------------------- generator

_SUBJECTS = [
    "poller stops collecting",
    "discovery misses devices",
    "dashboard loads slowly",
    "alerts not sent",
    "graphs show gaps",
    "licence will not activate",
    "upgrade fails halfway",
    "traps not received",
    "report export is empty",
    "login loops back to the portal",
]


def generate(store: Store, n: int, *, seed: int = 0, now: datetime | None = None) -> list[Issue]:
    """N extra cases spread over the 30 days before ``now`` (fast: direct inserts).

    A tenth are resolved, a fifth have one public agent comment; every case has
    an organisation, a request type, and the policy's custom fields filled in
    plausibly.  Deterministic for a given ``seed`` and ``now``.
    """
    rng = random.Random(seed)
    now = now or store.now()
    f = store.field_by_name
    fields = {
        name: f(name)
        for name in (
            "Organizations",
            "Environment type",
            "Staff available",
            "Product",
            "Product version",
            "Impact",
            "Contact phone",
        )
    }
    orgs = list(store.organizations.values())
    members = {o.id: [store.users[a] for a in o.members if a in store.users] for o in orgs}
    agents = [u for u in store.users.values() if u.account_type == "atlassian" and not u.admin]
    prios = [p.id for p in store.priorities[:4]]
    rts = list(store.request_types)
    resolved = store.status_by_name("Resolved")
    open_status = store.initial_status
    done_res = store.resolutions[0].id if store.resolutions else None
    env, staff, product = fields["Environment type"], fields["Staff available"], fields["Product"]
    request_type = store.field_of_kind("requesttype")  # under either product's name
    out: list[Issue] = []
    for _ in range(n):
        org = orgs[rng.randrange(len(orgs))] if orgs else None
        people = members.get(org.id, []) if org else []
        reporter = (
            people[rng.randrange(len(people))] if people else next(iter(store.users.values()))
        )
        created = (now - timedelta(seconds=rng.randrange(1, 30 * 86400))).replace(microsecond=0)
        prod = (
            product.options[rng.randrange(len(product.options))]
            if product and product.options
            else None
        )
        values: dict[str, Any] = {
            "summary": f"{prod.value if prod else 'Product'} {rng.choice(_SUBJECTS)}",
            "description": "Generated case for benchmarks.",
            "issuetype": store.issue_types[0].id,
            "priority": prios[rng.randrange(len(prios))],
            "status": open_status,
            "resolution": None,
            "resolutiondate": None,
            "reporter": reporter.account_id,
            "assignee": None,
            "creator": reporter.account_id,
            "labels": [],
            "created": created,
            "updated": created,
            "statuscategorychangedate": created,
        }
        if fields["Organizations"] is not None:
            values[fields["Organizations"].id] = [org.id] if org else []
        if request_type is not None and rts:
            values[request_type.id] = rts[min(int(rng.expovariate(0.7)), len(rts) - 1)]
        if env is not None:
            values[env.id] = env.options[0].id if rng.random() < 0.85 else env.options[1].id
        if staff is not None:
            values[staff.id] = staff.options[0].id
        if prod is not None and product is not None:
            values[product.id] = prod.id
        if fields["Product version"] is not None:
            values[fields["Product version"].id] = (
                f"{rng.randint(4, 9)}.{rng.randint(0, 5)}.{rng.randint(0, 9)}"
            )
        if fields["Impact"] is not None:
            values[fields["Impact"].id] = "Operators lose visibility of part of the network."
        if fields["Contact phone"] is not None:
            values[fields["Contact phone"].id] = (
                f"+61 7 3{rng.randint(100, 999)} {rng.randint(1000, 9999)}"
            )
        issue = Issue(store.next_issue_id, f"{store.project.key}-{store.next_issue_number}", values)
        if agents and rng.random() < 0.2:
            agent = agents[rng.randrange(len(agents))]
            at = created + timedelta(minutes=rng.randrange(10, 600))
            if at < now:
                cid = str(store.next_comment_id)
                store.next_comment_id += 1
                issue.comments.append(
                    Comment(
                        cid, agent.account_id, "We are looking into it.", at, at, agent.account_id
                    )
                )
                values["updated"] = at
        if resolved is not None and rng.random() < 0.1:
            values["status"] = resolved.id
            values["resolution"] = done_res
            values["resolutiondate"] = values["updated"]
            values["statuscategorychangedate"] = values["updated"]
        store.insert_issue(issue)
        out.append(issue)
    return out


#: the custom fields `site()` adds for the bridge (the "bare" seed has none of them)
BRIDGE_FIELDS = (
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
    "Skype",
)


def build(
    seed_name: str = "demo",
    *,
    now: datetime | None = None,
    frozen: bool = False,
    site_tz: str | None = None,
    cases: int = 0,
) -> Store:
    """A ready store for ``--seed demo|empty|bare|FILE`` (plus ``cases`` generated ones).

    The demo seed starts at its own moment (:data:`DEMO_NOW`) unless given ``now``."""
    from bridge.sandbox.store import DEFAULT_SITE_TZ, Clock

    if now is None and seed_name == "demo":
        now = DEMO_NOW
    clock = Clock(now, frozen=frozen)
    if seed_name == "demo":
        store = demo(Store(clock, site_tz or DEFAULT_SITE_TZ))
    elif seed_name == "empty":
        store = site(Store(clock, site_tz or DEFAULT_SITE_TZ))
    elif seed_name == "bare":
        # a service desk before `jsm-bridge setup-site`: none of the bridge's custom fields
        store = site(Store(clock, site_tz or DEFAULT_SITE_TZ))
        for f in list(store.fields.values()):
            if f.name in BRIDGE_FIELDS:
                del store.fields[f.id]
    else:
        store = Store.load(seed_name, clock if now is not None else None)
    if cases:
        generate(store, cases, now=store.now())
    return store
