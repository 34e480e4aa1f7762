"""evaluate(): everything the support terms decide about one case, computed purely.

The result (:class:`~bridge.policy.model.Desired`) is what the case should look
like; the sync layer compares it with Jira and its ledger to decide what to
write.  Comment and transition action ids are stable: they depend on the case,
the rule or ladder step, and (for the ladder) the due time, never on ``now``.

Decisions where SPEC §2–§3 are silent:

* An unknown organisation gets only the ``unknown_customer`` label and comment.
  Other bridge labels are left alone (nothing about the case is known).
* An agent raising a case on a customer's behalf is an authorised contact.
* A case whose own resolution is not counted has no quota position.
* The over-quota transition is requested only while the case is unanswered:
  a case an engineer already took up is not bounced to approval.
* A priority rule's comment is written only when the rule changed the level
  (a rule that fires without changing anything has nothing to tell).
* An unknown or absent requested priority is treated as the lowest level.
* A resolved case gets its fields (tier, quota, SLA state, due) and nothing
  else: no labels added or removed, no comments, transitions, assignment or
  priority change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from bridge.policy.escalation import LadderOutcome, not_running_reason, run_ladder
from bridge.policy.model import (
    CommentTemplate,
    Customer,
    Desired,
    DesiredComment,
    DesiredTransition,
    EvalContext,
    Explanation,
    IssueSnapshot,
    PriorityLevel,
    QuotaPosition,
    RuleSet,
    SlaState,
    Tier,
    filled,
)
from bridge.policy.priority import PriorityOutcome, decide_priority, folded, level_of, slug
from bridge.policy.sla import (
    ResponseClock,
    format_duration,
    response_clock,
    shifted_due,
    target_business,
)
from bridge.policy.templates import PLACEHOLDERS
from bridge.policy.templates import render as render_template
from bridge.policy.tiers import (
    check_contact,
    contact_authorised,
    find_org_cases,
    needed_entitlements,
    rank_quota,
)

if TYPE_CHECKING:  # pragma: no cover
    from bridge.policy.clock import BusinessCalendar

__all__ = ["evaluate", "reporter_text"]


_MARK = "\x00"


@lru_cache(maxsize=512)
def _segments(text: str) -> tuple[str, ...] | None:
    """A template split into literal, name, literal, name, ..., literal (None: render slowly).

    Rendered once with markers by the safe renderer itself, so the grammar (and
    its ``{{``/``}}`` escapes) lives in one place.
    """
    if _MARK in text:
        return None
    marked = render_template(text, {name: f"{_MARK}{name}{_MARK}" for name in PLACEHOLDERS})
    return tuple(marked.split(_MARK))


@lru_cache(maxsize=512)
def _compiled(text: str) -> tuple[str, tuple[str, ...]] | None:
    """A template as a ``str.format_map`` pattern of our own making, and the names it uses.

    Built from :func:`_segments`: literals have their braces doubled and every name
    is a known placeholder, so ``format_map`` over a dict holding those names gives
    exactly what ``templates.render`` gives.  None: render slowly.
    """
    parts = _segments(text)
    if parts is None:
        return None
    pattern = "".join(
        "{" + part + "}" if i % 2 else part.replace("{", "{{").replace("}", "}}")
        for i, part in enumerate(parts)
    )
    return pattern, tuple(dict.fromkeys(parts[1::2]))


def render(text: str, values: Mapping[str, str]) -> str:
    """``templates.render``, with each template's parse kept between cases."""
    parts = _segments(text)
    if parts is None:
        return render_template(text, values)
    out = list(parts)
    for i in range(1, len(out), 2):
        out[i] = values.get(out[i], "")
    return "".join(out)


def reporter_text(snapshot: IssueSnapshot) -> str:
    reporter = snapshot.reporter
    if reporter is None:
        return "(no reporter)"
    if reporter.email:
        return f"{reporter.display_name} <{reporter.email}>"
    return reporter.display_name


class TemplateValues(Mapping[str, str]):
    """The placeholder values of SPEC §3, each computed only when a template uses it."""

    __slots__ = (
        "_cache",
        "_calendar",
        "_due",
        "_level",
        "_missing",
        "_quota",
        "_ruleset",
        "_snapshot",
        "_tier",
    )

    def __init__(
        self,
        snapshot: IssueSnapshot,
        ruleset: RuleSet,
        level: PriorityLevel | None,
        due: datetime | None,
        calendar: BusinessCalendar | None,
        tier: Tier | None,
        quota: QuotaPosition | None,
        missing: str,
    ) -> None:
        self._snapshot = snapshot
        self._ruleset = ruleset
        self._level = level
        self._due = due
        self._calendar = calendar
        self._tier = tier
        self._quota = quota
        self._missing = missing
        self._cache: dict[str, str] = {}

    def _make(self, name: str) -> str:
        try:
            make = _MAKERS[name]
        except KeyError:
            raise KeyError(name) from None
        return make(self)

    def _priority_name(self) -> str:
        level = self._level
        jira_name = self._ruleset.priorities.jira_names.get(level, "") if level else ""
        return jira_name or (self._snapshot.priority or "")

    def _due_text(self) -> str:
        calendar, due = self._calendar, self._due
        return calendar.format(due) if (calendar is not None and due is not None) else ""

    def __getitem__(self, name: str) -> str:
        found = self._cache.get(name)
        if found is None:
            found = self._cache[name] = self._make(name)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(_NAMES)

    def __len__(self) -> int:
        return len(_NAMES)

    def render(self, text: str) -> str:
        """``render(text, self)``: the template's parse cached, each value computed once.

        Only the names the template uses are computed: ``{due}`` (a zone conversion
        and formatting) is the costly one and most templates do not use it.
        """
        compiled = _compiled(text)
        if compiled is None:
            return render(text, self)
        pattern, names = compiled
        cache = self._cache
        for name in names:
            if name not in cache:
                # every name of a compiled template is a known placeholder: no KeyError
                cache[name] = _MAKERS[name](self)
        return pattern.format_map(cache)


#: How each placeholder's value is made (one look-up per name instead of a chain of ifs).
_MAKERS: dict[str, Callable[[TemplateValues], str]] = {
    "key": lambda v: v._snapshot.key,
    "priority": lambda v: v._level or "",
    "priority_name": TemplateValues._priority_name,
    "due": TemplateValues._due_text,
    "tier": lambda v: v._tier.name if v._tier is not None else "",
    "organization": lambda v: v._snapshot.organization or "",
    "reporter": lambda v: reporter_text(v._snapshot),
    "request_type": lambda v: v._snapshot.request_type or "",
    "quota_used": lambda v: str(v._quota.used) if v._quota is not None else "",
    "quota_limit": lambda v: str(v._quota.limit) if v._quota is not None else "",
    "missing": lambda v: v._missing,
}

_NAMES = (
    "key",
    "priority",
    "priority_name",
    "due",
    "tier",
    "organization",
    "reporter",
    "request_type",
    "quota_used",
    "quota_limit",
    "missing",
)


_deferred = DesiredComment.deferred


class _Out:
    """What evaluation collects on the way (one per case: slots, made in one call)."""

    __slots__ = ("comments", "explain", "labels_absent", "labels_present", "notes", "transitions")

    def __init__(self, explain: bool) -> None:
        self.labels_present: set[str] = set()
        self.labels_absent: set[str] = set()
        self.comments: list[DesiredComment] = []
        self.transitions: list[DesiredTransition] = []
        self.notes: list[Explanation] = []
        self.explain = explain

    def note(self, topic: str, text: str) -> None:
        if self.explain:
            self.notes.append(Explanation(topic, text))

    def comment(self, action_id: str, template: CommentTemplate, values: TemplateValues) -> None:
        # rendered when the planner needs the text: only for a comment not yet posted
        self.comments.append(
            _deferred(action_id, template.visibility == "public", values.render, template.text)
        )


@dataclass(frozen=True, slots=True)
class _CustomerFacts:
    """What a customer's entry means, looked up once per rule set."""

    tier: Tier
    calendar_name: str
    calendar: BusinessCalendar
    contacts: frozenset[str]  # stripped and case-folded
    assigns_named_engineer: bool  # the tier includes it and the customer names one


class _Prepared:
    """Per rule set: the lookups every case repeats, done once (the rule set is immutable)."""

    __slots__ = ("customers", "needed", "problems", "ruleset")

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset  # kept alive so its id() stays unique while cached
        self.customers: dict[int, _CustomerFacts] = {}
        self.needed: dict[str | None, tuple[str, ...]] = {}
        self.problems: dict[tuple[str | None, int], tuple[str, ...]] = {}

    def facts(self, customer: Customer) -> _CustomerFacts:
        found = self.customers.get(id(customer))
        if found is None:
            ruleset = self.ruleset
            try:
                tier = ruleset.tiers[customer.tier]
            except KeyError:
                raise ValueError(
                    f"customer {customer.organization!r} names tier {customer.tier!r}, which is "
                    f"not in tiers.yaml (have: {', '.join(sorted(ruleset.tiers))})"
                ) from None
            calendar_name, calendar = _calendar_for(customer, ruleset)
            found = _CustomerFacts(
                tier,
                calendar_name,
                calendar,
                folded(customer.contacts),
                "named_engineer" in tier.entitlements and bool(customer.named_engineer),
            )
            # customers come from ruleset.customer(): entries the rule set keeps alive
            self.customers[id(customer)] = found
        return found

    def needed_for(self, request_type: str | None) -> tuple[str, ...]:
        found = self.needed.get(request_type)
        if found is None:
            found = self.needed[request_type] = needed_entitlements(request_type, self.ruleset)
        return found

    def problems_for(self, request_type: str | None, tier: Tier) -> tuple[str, ...]:
        """The entitlements ``request_type`` needs that ``tier`` lacks (tiers: the rule set's)."""
        found = self.problems.get((request_type, id(tier)))
        if found is None:
            needed = self.needed_for(request_type)
            entitlements = tier.entitlements
            found = tuple(e for e in needed if e not in entitlements)
            self.problems[(request_type, id(tier))] = found
        return found


#: Keyed by the rule set's identity (a RuleSet holds dicts, so it is not hashable);
#: each entry keeps its rule set alive, so an id is never reused while cached.
_PREPARED: dict[int, _Prepared] = {}
_PREPARED_SIZE = 16


def _prepared(ruleset: RuleSet) -> _Prepared:
    found = _PREPARED.get(id(ruleset))
    if found is not None and found.ruleset is ruleset:
        return found
    if len(_PREPARED) >= _PREPARED_SIZE:
        _PREPARED.pop(next(iter(_PREPARED)))
    found = _PREPARED[id(ruleset)] = _Prepared(ruleset)
    return found


def evaluate(
    snapshot: IssueSnapshot, ruleset: RuleSet, context: EvalContext, now: datetime
) -> Desired:
    """What the support terms want this case to look like at ``now``."""
    customer = ruleset.customer(snapshot.organization)
    if customer is None:
        return _unknown_customer(snapshot, ruleset, context.explain)
    return _known_customer(snapshot, ruleset, context, now, customer)


# ------------------------------------------------------------------- unknown customer


def _unknown_customer(snapshot: IssueSnapshot, ruleset: RuleSet, explain: bool) -> Desired:
    out = _Out(explain)
    done = snapshot.status_category == "done"
    org = snapshot.organization
    if explain:  # the notes' texts are only built when they are kept
        out.note(
            "customer",
            f"{org} has no entry in customers.yaml: unknown customer"
            if org
            else "the case names no organisation: unknown customer",
        )
        out.note("sla", "no response target applies to an unknown customer: SLA state none")
    policy = ruleset.unknown_customer
    if done:
        out.note("case", "the case is resolved: fields only, no labels or comments")
    else:
        if policy.label:
            out.labels_present.add(policy.label)
            if explain:
                out.note("customer", f"label {policy.label}")
        if policy.comment is not None:
            level = level_of(ruleset.priorities, snapshot.priority)
            values = TemplateValues(snapshot, ruleset, level, None, None, None, None, "")
            out.comment(f"{snapshot.key}/unknown-customer", policy.comment, values)
    return filled(  # a dict literal naming every field (see model.filled)
        Desired,
        {
            "key": snapshot.key,
            "known_customer": False,
            "tier": None,
            "calendar": None,
            "priority": None,
            "priority_jira": None,
            "priority_reason": "unknown customer: priority rules do not apply",
            "quota": None,
            "authorised_contact": None,
            "entitlement_problems": (),
            "missing_information": (),
            "response_due": None,
            "target": None,
            "business_used": None,
            "first_response": None,
            "sla_state": "none",
            "escalation_steps": (),
            "labels_present": frozenset(out.labels_present),
            "labels_absent": frozenset(),
            "comments": tuple(out.comments),
            "assignee": None,
            "transitions": (),
            "explanation": tuple(out.notes),
            "next_wakeup": None,
            "sla_priority": None,
            "paused_business": None,
        },
    )


# --------------------------------------------------------------------- known customer


def _calendar_for(customer: Customer, ruleset: RuleSet) -> tuple[str, BusinessCalendar]:
    name = customer.calendar if customer.calendar in ruleset.calendars else ruleset.default_calendar
    try:
        return name, ruleset.calendars[name]
    except KeyError:
        raise ValueError(
            f"customer {customer.organization!r}: calendar {customer.calendar!r} and the "
            f"default calendar {ruleset.default_calendar!r} are not in sla.yaml calendars "
            f"(have: {', '.join(sorted(ruleset.calendars)) or 'none'})"
        ) from None


def _known_customer(
    snapshot: IssueSnapshot,
    ruleset: RuleSet,
    context: EvalContext,
    now: datetime,
    customer: Customer,
) -> Desired:
    key = snapshot.key
    explain = context.explain
    out = _Out(explain)
    open_case = snapshot.status_category != "done"
    prepared = _prepared(ruleset)
    facts = prepared.facts(customer)
    tier = facts.tier
    calendar_name, calendar = facts.calendar_name, facts.calendar
    if explain:
        out.note("tier", f"{customer.organization}: {tier.name} tier")
    if ruleset.unknown_customer.label:
        out.labels_absent.add(ruleset.unknown_customer.label)

    # -- authorised contact
    if explain:
        contact = check_contact(snapshot, customer)
        authorised = contact.authorised
        out.note("contact", contact.why)
    else:
        authorised = contact_authorised(snapshot, facts.contacts)

    # -- quota
    ranking = rank_quota(
        snapshot,
        find_org_cases(snapshot, context.org_cases, customer),
        tier,
        ruleset.quota.not_counted_resolutions,
        calendar.tz,
        explain,
    )
    quota = ranking.position
    if explain:
        out.note("quota", ranking.why)

    # -- entitlements
    needed = prepared.needed_for(snapshot.request_type)
    # remembered per request type and tier: both come from the immutable rule set
    problems = prepared.problems_for(snapshot.request_type, tier) if needed else ()
    if not explain:
        pass
    elif problems:
        out.note(
            "entitlement",
            f"{snapshot.request_type} needs {', '.join(problems)}, not included in {tier.name}",
        )
    elif needed:
        out.note("entitlement", f"{snapshot.request_type} needs {', '.join(needed)}: included")
    else:
        out.note(
            "entitlement", f"{snapshot.request_type or 'no request type'}: no entitlement needed"
        )

    # -- priority
    decided = decide_priority(snapshot, ruleset.priorities, explain)
    level = decided.level
    if explain:
        _explain_priority(out, decided)

    # -- required information
    required = ruleset.required_information.fields
    missing_names = ""
    if required:
        fields = snapshot.fields
        missing: tuple[str, ...] = ()
        for name in required:  # a loop, not a generator: every case asks
            value = fields.get(name)
            if not value or not value.strip():
                missing += (name,)
        if missing:
            names = context.field_names
            missing_names = ", ".join(names.get(name, name) for name in missing)
    else:
        missing = ()
    if not explain:
        pass
    elif missing:
        out.note("information", f"missing: {missing_names}")
    elif required:
        out.note("information", "every required item is supplied")

    # -- named engineer
    assignee: str | None = None
    if open_case and facts.assigns_named_engineer:
        if snapshot.assignee is None:
            assignee = customer.named_engineer
            if explain:
                out.note("assignment", f"unassigned: assign to the named engineer {assignee}")
        elif explain:
            out.note("assignment", f"already assigned to {snapshot.assignee}: left alone")

    # -- response clock
    if explain:
        out.note("calendar", f"calendar {calendar_name} ({calendar.tz})")
    target = ruleset.response.targets.get(level)
    clock: ResponseClock | None = None
    if target is None:
        if explain:
            out.note("sla", f"no response target for {level}: SLA state none")
    else:
        clock = response_clock(
            snapshot, target, ruleset.response, calendar, context.bridge_account, now
        )
        if explain:
            _explain_clock(out, snapshot, ruleset, clock, calendar, level)

    due = clock.due if clock is not None else None
    values = TemplateValues(snapshot, ruleset, level, due, calendar, tier, quota, missing_names)

    # -- escalation ladder
    running = clock is not None and clock.running
    ladder: LadderOutcome | None = None
    if clock is not None and running:
        ladder = run_ladder(
            snapshot=snapshot,
            steps=ruleset.escalation,
            level=level,
            clock=clock,
            calendar=calendar,
            customer=customer,
            assignee=snapshot.assignee or assignee,
            render=values.render,
            explain=out.explain,
        )
        out.notes.extend(ladder.explanation)
        if ladder.assignee is not None:
            assignee = ladder.assignee
    elif clock is not None and explain:
        out.note("escalation", not_running_reason(clock))

    next_wakeup: datetime | None = None
    if clock is not None and running:
        # the earliest of the due time, the at-risk moment and the next ladder step
        # that is still ahead; the at-risk moment (a share <= 1 of the target) is never
        # later than the due time, so once the due time has passed it is not needed
        at_risk_at = ruleset.response.at_risk_at
        # a breached clock's due time has passed (and comparing the due time, in the
        # calendar's zone, with now costs two zone look-ups): most cases ask
        due_ahead = clock.state != "breached" and clock.due > now
        next_step_at = ladder.next_step_at if ladder is not None else None
        if due_ahead or at_risk_at > 1 or next_step_at is not None:
            moments = [clock.due] if due_ahead else []
            if at_risk_at > 1 or due_ahead:
                moments.append(clock.moment(calendar, at_risk_at))
            if next_step_at is not None:
                moments.append(next_step_at)
            future = [m for m in moments if m > now]
            next_wakeup = min(future) if future else None
        # else: past due, nothing left on the ladder: no time-driven moment remains

    if not open_case:
        if explain:
            out.note("case", "the case is resolved: fields only (no labels, comments, assignment)")
        return _desired(
            snapshot,
            ruleset,
            out,
            tier=tier,
            calendar_name=calendar_name,
            decided=decided,
            quota=quota,
            authorised=authorised,
            problems=problems,
            missing=missing,
            clock=clock,
            ladder=None,
            write=False,
            assignee=None,
            next_wakeup=None,
        )

    # -- condition flags (labels the bridge owns, comments once)
    unauthorised = ruleset.unauthorised_contact
    if not authorised:
        if unauthorised.label:
            out.labels_present.add(unauthorised.label)
        if unauthorised.comment is not None:
            out.comment(f"{key}/unauthorised-contact", unauthorised.comment, values)
    elif unauthorised.label:
        out.labels_absent.add(unauthorised.label)

    over = ruleset.quota.over_quota
    if quota is not None and quota.over:
        if over.label:
            out.labels_present.add(over.label)
        if over.comment is not None:
            out.comment(f"{key}/over-quota", over.comment, values)
        if over.transition:
            if clock is None or clock.first_response is None:
                out.transitions.append(
                    DesiredTransition(
                        f"{key}/over-quota-transition/{slug(over.transition)}", over.transition
                    )
                )
                if explain:
                    out.note("quota", f"over quota: transition {over.transition}")
            elif explain:
                out.note("quota", "over quota but already answered: no transition")
    elif over.label:
        out.labels_absent.add(over.label)

    entitled = ruleset.not_entitled
    if problems:
        if entitled.label:
            out.labels_present.add(entitled.label)
        if entitled.comment is not None:
            out.comment(f"{key}/not-entitled", entitled.comment, values)
    elif entitled.label:
        out.labels_absent.add(entitled.label)

    for fired in decided.fired:
        if fired.rule.comment is not None and fired.changed:
            out.comment(f"{key}/priority/{slug(fired.rule.name)}", fired.rule.comment, values)

    info = ruleset.required_information
    if missing:
        if info.label:
            out.labels_present.add(info.label)
        if info.comment is not None:
            out.comment(f"{key}/needs-info", info.comment, values)
    elif info.label:
        out.labels_absent.add(info.label)

    if ladder is not None:
        out.labels_present |= ladder.labels
        out.comments.extend(ladder.comments)
        out.transitions.extend(ladder.transitions)

    return _desired(
        snapshot,
        ruleset,
        out,
        tier=tier,
        calendar_name=calendar_name,
        decided=decided,
        quota=quota,
        authorised=authorised,
        problems=problems,
        missing=missing,
        clock=clock,
        ladder=ladder,
        write=True,
        assignee=assignee,
        next_wakeup=next_wakeup,
    )


def _desired(
    snapshot: IssueSnapshot,
    ruleset: RuleSet,
    out: _Out,
    *,
    tier: Tier,
    calendar_name: str,
    decided: PriorityOutcome,
    quota: QuotaPosition | None,
    authorised: bool,
    problems: tuple[str, ...],
    missing: tuple[str, ...],
    clock: ResponseClock | None,
    ladder: LadderOutcome | None,
    write: bool,
    assignee: str | None,
    next_wakeup: datetime | None,
) -> Desired:
    priority: PriorityLevel | None = None
    jira: str | None = None
    reason = decided.reason
    if not write:
        reason += " (resolved case: priority left alone)"
    elif decided.requested.mapped or not decided.engineer_override:
        priority = decided.level
        jira = ruleset.priorities.jira_names.get(priority)
    if write:
        present = out.labels_present
        labels_present = frozenset(present)
        labels_absent = frozenset(out.labels_absent - present)
        comments: tuple[DesiredComment, ...] = tuple(out.comments)
        transitions: tuple[DesiredTransition, ...] = tuple(out.transitions)
    else:
        labels_present = labels_absent = _NO_LABELS
        comments, transitions, assignee = (), (), None
    if clock is None:
        due = target = used = first = paused = sla_priority = None
        state: SlaState = "none"
    else:
        due, target, used = clock.due, clock.target_business, clock.business_used
        first = clock.first_response.at if clock.first_response is not None else None
        paused, state, sla_priority = clock.paused_business, clock.state, decided.level
    # one dict literal naming every field (tests compare it with Desired's fields)
    return filled(
        Desired,
        {
            "key": snapshot.key,
            "known_customer": True,
            "tier": tier.name,
            "calendar": calendar_name,
            "priority": priority,
            "priority_jira": jira,
            "priority_reason": reason,
            "quota": quota,
            "authorised_contact": authorised,
            "entitlement_problems": problems,
            "missing_information": missing,
            "response_due": due,
            "target": target,
            "business_used": used,
            "first_response": first,
            "sla_state": state,
            "escalation_steps": ladder.reached if ladder is not None else (),
            "labels_present": labels_present,
            "labels_absent": labels_absent,
            "comments": comments,
            "assignee": assignee,
            "transitions": transitions,
            "explanation": tuple(out.notes),
            "next_wakeup": next_wakeup,
            "sla_priority": sla_priority,
            "paused_business": paused,
        },
    )


_NO_LABELS: frozenset[str] = frozenset()


# ------------------------------------------------------------------------- explain


def _explain_priority(out: _Out, decided: PriorityOutcome) -> None:
    out.note("priority", f"requested {decided.requested.level}: {decided.requested.source}")
    if decided.engineer_override:
        out.note("priority", f"engineer's choice respected: {decided.reason}")
        return
    for fired in decided.fired:
        effect = f"{fired.before} -> {fired.after}" if fired.changed else f"stays {fired.after}"
        out.note("priority", f"rule {fired.rule.name!r} fired ({fired.why}): {effect}")
    out.note("priority", f"priority {decided.level}")


def _explain_clock(
    out: _Out,
    snapshot: IssueSnapshot,
    ruleset: RuleSet,
    clock: ResponseClock,
    calendar: BusinessCalendar,
    level: PriorityLevel,
) -> None:
    target = clock.target
    shown = "next business day" if target.kind == "next_business_day" else "business"
    out.note(
        "clock",
        f"{level} target {format_duration(clock.target_business)} ({shown}); created "
        f"{calendar.format(snapshot.created)} -> due {calendar.format(clock.due)}; "
        f"{format_duration(clock.business_used)} business time used",
    )
    if clock.paused_business > timedelta(0) or clock.pauses:
        out.note(
            "clock",
            f"paused {len(clock.pauses)} time(s); completed pauses moved the due time "
            f"{format_duration(clock.paused_business)} later",
        )
    if clock.first_response is not None:
        out.note(
            "clock",
            f"first response {calendar.format(clock.first_response.at)}: {clock.first_response.how}",
        )
    # a priority change recomputes the due time from creation with the new target
    previous = _previous_level(snapshot, ruleset, level)
    if previous is not None:
        old_target = ruleset.response.targets.get(previous)
        if old_target is not None:
            old_due = shifted_due(
                calendar,
                snapshot.created,
                target_business(calendar, snapshot.created, old_target),
                clock.completed_pauses,
            )
            out.note(
                "clock",
                f"reprioritised {previous} -> {level}: due recomputed from creation, "
                f"was {calendar.format(old_due)}, now {calendar.format(clock.due)}",
            )
    out.note("sla", f"SLA state {clock.state}")


def _previous_level(
    snapshot: IssueSnapshot, ruleset: RuleSet, level: PriorityLevel
) -> PriorityLevel | None:
    """The level the case had before its latest priority change (or before ours)."""
    policy = ruleset.priorities
    current = policy.level_of(snapshot.priority)
    if current is not None and current != level:
        return current
    if snapshot.priority_history:
        before = policy.level_of(snapshot.priority_history[-1].from_name)
        if before is not None and before != level:
            return before
    return None
