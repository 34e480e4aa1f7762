"""``jsm-bridge report --month YYYY-MM``: per-customer SLA compliance and quota usage.

Reads the month's cases (the scope's, created from a day before the month to a
day after it, so every customer's calendar zone is covered; with a scope that
selects by status, resolution or organisation, the customers' cases of those days
in its projects as well: `read_month`), ranks each among the cases a cycle ranks
it among (`Engine.month_org_cases`, one more search: its month, or the contract
year its month begins in when a usage limit may decide it), evaluates each case read
with the cycle's own `Engine.evaluate` at ``--now``, keeps those created in the month
in their customer's zone, and aggregates (`bridge.report.compute`).  Read-only: nothing is
written to Jira, and the bridge's state database is not opened (an in-memory one
stands in).

``--customer NAME`` (repeatable) keeps only those customers' figures: the other
customers and the unknown organisations are left out, so the report can be sent to
the customer.  The cases are read, ranked and evaluated as without it.

Prints the table; writes ``report.csv`` and ``report.html`` to ``--out``
(default ``report-YYYY-MM/``) and prints their paths.  Exit 0; 2 for a bad
``--month``/``--now``/``--out``/``--customer``; 1 for config or rules problems; 3 when Jira
fails; 4 when the report is complete but some cases could not be read or
evaluated (they are listed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from bridge.commands._runtime import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    CommandError,
    Runtime,
    connect,
    default_tz,
    jira_exit,
    load_config,
    parse_now,
    setup_logging,
)
from bridge.jira.fields import parse_jira_datetime
from bridge.jira.port import JiraError
from bridge.logs import complain, redact_text
from bridge.policy.model import Desired, IssueSnapshot, RuleSet
from bridge.report.compute import (
    CustomerError,
    MonthError,
    compute,
    in_month,
    month_bounds,
    month_of,
    parse_month,
    pick_customers,
)
from bridge.report.render import terminal, to_csv, to_html
from bridge.sync.poll import (
    customers_clause,
    jql_datetime,
    project_of,
    projects_jql,
    read_issues,
    scope_and,
    scope_projects,
)
from bridge.sync.snapshot import SnapshotError

#: Zones run from UTC-12 to UTC+14: a day either side of the month in UTC covers them all.
MARGIN = timedelta(days=1)


def month_jql(base_jql: str, month: str, tz: Any = None) -> str:
    """The scope's cases created from a day before ``month`` (UTC) to a day after it."""
    start, end = month_bounds(month)
    since = start.replace(tzinfo=UTC) - MARGIN
    until = end.replace(tzinfo=UTC) + MARGIN
    return scope_and(
        base_jql,
        f"created >= {jql_datetime(since, tz)} AND created < {jql_datetime(until, tz)}",
    )


def _skipped_in_month(raw: Mapping[str, Any], month: str, ruleset: RuleSet) -> bool:
    """Whether an unreadable case may belong to the month (in any calendar's zone)."""
    try:
        created = parse_jira_datetime(str((raw.get("fields") or {}).get("created") or ""))
    except (TypeError, ValueError):
        return True
    return _may_be_in_month(created, month, ruleset)


def _may_be_in_month(created: datetime, month: str, ruleset: RuleSet) -> bool:
    """Whether a case created then is in ``month`` in some calendar's zone."""
    return any(month_of(created, cal.tz) == month for cal in ruleset.calendars.values())


def _read_month(
    runtime: Runtime, jql: str, month: str, skipped: list[tuple[str, str]]
) -> list[IssueSnapshot]:
    """The cases ``jql`` finds, as the cycle's read completes them (`Engine.as_read`);
    those that cannot be read and may be of ``month`` are added to ``skipped``."""
    site, engine = runtime.site, runtime.engine
    snapshots: list[IssueSnapshot] = []
    for raw, snap in read_issues(
        runtime.client,
        jql,
        site.fieldmap,
        bridge_account_id=site.bridge_account_id,
        status_categories=site.status_categories,
        customers=site.customer_ids,
        datacenter=site.flavour == "datacenter",
    ):
        if isinstance(snap, SnapshotError):
            if _skipped_in_month(raw, month, engine.ruleset):
                skipped.append((snap.key, snap.problem))
        else:
            snapshots.append(engine.as_read(snap))
    return snapshots


def read_month(runtime: Runtime, month: str) -> tuple[list[IssueSnapshot], list[tuple[str, str]]]:
    """The cases of ``month`` and a day either side that the report covers, and the ones
    that could not be read (key, why).

    They are the scope's.  A scope that selects cases by status, resolution or
    organisation (``resolution = EMPTY``) leaves out cases its customers' months hold,
    and a cycle counts those too (`Engine.scope_filters`): the customers' cases of the
    same days are then read as well, in the projects the scope names or its cases are
    in, whatever their status (`projects_jql`), so the report's figures cover each
    customer's month, not only what the scope still selects.
    """
    site, engine = runtime.site, runtime.engine
    scope = runtime.settings.jira.jql
    skipped: list[tuple[str, str]] = []
    snapshots = _read_month(runtime, month_jql(scope, month, site.user_tz), month, skipped)
    if not engine.scope_filters:
        return snapshots, skipped
    seen = {s.key for s in snapshots} | {key for key, _ in skipped}
    projects = set(scope_projects(scope)) | {project_of(key) for key in seen}
    names = [c.organization for c in engine.ruleset.customers.values()]
    if not projects or not names:
        return snapshots, skipped
    counted = f"{projects_jql(projects)} AND {customers_clause(site.fieldmap, names, unnamed=True)}"
    more: list[tuple[str, str]] = []
    for snap in _read_month(runtime, month_jql(counted, month, site.user_tz), month, more):
        # a case naming no organisation is read for its reporter's customer, if any
        if snap.key not in seen and engine.ruleset.customer(engine.customer_name(snap)):
            snapshots.append(snap)
    skipped.extend((key, why) for key, why in more if key not in seen)
    return snapshots, skipped


def evaluate_month(
    runtime: Runtime, month: str, now: datetime, owners: dict[str, str] | None = None
) -> tuple[list[tuple[IssueSnapshot, Desired]], list[tuple[str, str]]]:
    """The month's cases evaluated at ``now``, and the ones skipped (key, why);
    ``owners`` is given the customer each case that could not be evaluated counts under.

    The cases read (`read_month`: the month and a day either side) are ranked as a
    cycle ranks them, which finds the customer each counts under, among the cases a
    cycle ranks them among (`Engine.month_org_cases`: the month's, or the contract
    year's when a usage limit may decide them, whatever the scope leaves out); the month's
    are the ones created in it in that customer's zone (`in_month`), the rule the
    cycle's quota count follows: a case naming no organisation counts in its
    reporter's customer's month, in that customer's zone.  Only they are evaluated.

    Raises `JiraError` when Jira fails outright.
    """
    engine = runtime.engine
    snapshots, skipped = read_month(runtime, month)
    ranking = engine.ranking(snapshots)
    cycle = engine.start_cycle(engine.month_org_cases(ranking), now)
    evaluated: list[tuple[IssueSnapshot, Desired]] = []
    for snap, (customer, _) in zip(snapshots, ranking, strict=True):
        if not in_month(snap, month, engine.compiled, customer):
            continue
        try:
            desired = engine.evaluate(snap, cycle)
        except Exception as exc:  # one bad case never stops the report
            skipped.append((snap.key, f"{type(exc).__name__}: {exc}"))
            if owners is not None and customer is not None:
                owners[snap.key] = customer
            continue
        evaluated.append((snap, desired))
    return evaluated, skipped


def write_files(out_dir: Path, csv_text: str, html_text: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "report.csv"
    html_path = out_dir / "report.html"
    # the files leave the process like stdout does: through the one redaction
    csv_path.write_text(redact_text(csv_text), encoding="utf-8", newline="")
    html_path.write_text(redact_text(html_text), encoding="utf-8")
    return csv_path, html_path


def run(args: argparse.Namespace) -> int:
    setup_logging(args, quiet_by_default=True)
    try:
        month = parse_month(args.month)
    except MonthError as exc:
        complain(f"error: {exc}")
        return EXIT_USAGE
    try:
        settings, ruleset = load_config(args)
        try:
            only = pick_customers(ruleset, getattr(args, "customer", None) or ())
        except CustomerError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from exc
        zone = default_tz(ruleset)
        now = parse_now(args.now, zone).astimezone(zone)
        runtime = connect(settings, ruleset, state_path=":memory:")
    except CommandError as exc:
        complain(f"error: {exc}")
        return exc.code
    try:
        owners: dict[str, str] = {}
        evaluated, skipped = evaluate_month(runtime, month, now, owners)
    except JiraError as exc:
        complain(f"error: Jira at {settings.jira.url} failed while reading {month}'s cases: {exc}")
        return jira_exit(exc)
    finally:
        runtime.close()

    report = compute(
        evaluated,
        runtime.engine.compiled,
        month,
        now,
        skipped=skipped,
        only=only,
        skipped_owners=owners,
    )
    sys.stdout.write(terminal(report))
    out_dir = Path(args.out) if args.out else Path(f"report-{month}")
    template = Path(args.template) if getattr(args, "template", None) else None
    try:
        page = to_html(report, site_url=settings.jira.url, template=template)
    except (jinja2.TemplateError, OSError) as exc:
        where = f" {template}" if template is not None else ""
        complain(f"error: the report template{where}: {type(exc).__name__}: {exc}")
        return EXIT_USAGE
    try:
        csv_path, html_path = write_files(out_dir, to_csv(report), page)
    except OSError as exc:
        complain(
            f"error: cannot write the report to {out_dir}: {exc.strerror or exc}; "
            "pick a writable directory with --out DIR"
        )
        return EXIT_USAGE
    print(f"\nWrote {csv_path}")
    print(f"Wrote {html_path}")
    # a report for some customers is partial when it may lack a case of theirs
    partial = report.skipped or report.unread_elsewhere if only else skipped
    return EXIT_PARTIAL if partial else EXIT_OK
