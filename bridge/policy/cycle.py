"""One evaluation cycle as a value: ``now`` in UTC, the month's quota index, the memos.

A sync cycle (or a report, or ``explain``) evaluates many cases at one moment
with one view of the organisations' cases.  What those cases share is looked up
once per cycle and kept here, keyed by values: each organisation's cases ranked
(by organisation name and calendar), taken from the compiled rules when an earlier
cycle ranked the same cases (most organisations, between two cycles), else ranked
now.  A new cycle starts empty; what depends only on the rules and a case's own
values (the priority decisions, the required information's verdicts, a response
target's due time) the compiled rules keep across cycles (:mod:`bridge.policy.memo`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bridge.policy.compiled import CustomerFacts, Policy
from bridge.policy.information import NamedCheck
from bridge.policy.model import EvalContext, MonthCase
from bridge.policy.tiers import (
    Flagged,
    OrgIndex,
    _org_index,
    first_listings,
    placed,
    raised_flags,
)


@dataclass
class Cycle:
    """What a cycle's cases share (``now`` in UTC; the context as the caller gave it)."""

    now: datetime
    context: EvalContext = field(default_factory=EvalContext)
    #: (organisation as the case names it, the customer's organisation, calendar name)
    #: -> the organisation's cases ranked; the case's name may differ from the context's
    #: in case, so the index is also kept under (the context's name twice, calendar name)
    quota_index: dict[tuple[str | None, str, str], OrgIndex] = field(default_factory=dict)
    #: the required-information check with the context's field names (made on first use)
    named_check: NamedCheck | None = None
    #: the compiled rules the index and the check above were made with (its first use):
    #: a cycle evaluates its cases with one policy (`used_with`)
    policy: Policy | None = None

    @classmethod
    def start(cls, now: datetime, context: EvalContext | None = None) -> Cycle:
        if now.tzinfo is None:
            raise ValueError(f"a cycle's now must be timezone-aware, got {now.isoformat()}")
        return cls(now.astimezone(UTC), context if context is not None else EvalContext())

    @property
    def explain(self) -> bool:
        return self.context.explain

    def used_with(self, policy: Policy) -> None:
        """Record the policy of the cycle's first use; another one is refused, as what
        the cycle keeps (the quota index, the named check) was decided by the first.
        ``evaluate`` asks for every case, before the cycle's memos are read."""
        if self.policy is None:
            self.policy = policy
        elif policy is not self.policy:
            raise ValueError(
                "a cycle evaluates its cases with one compiled policy, and this one was "
                "started with another: start a new Cycle for other rules"
            )

    def information(self, policy: Policy) -> NamedCheck:
        """The policy's required-information check with this cycle's field names and
        select lists."""
        if self.named_check is None:
            context = self.context
            self.named_check = policy.information.named(context.field_names, context.select_fields)
        return self.named_check

    def org_index(self, organization: str | None, facts: CustomerFacts, policy: Policy) -> OrgIndex:
        """The organisation's cases of the context, ranked in its calendar (once per cycle)."""
        key = (organization, facts.customer.organization, facts.calendar_name)
        found = self.quota_index.get(key)
        if found is None:
            name, cases = _find_org_cases(self.context.org_cases, organization, facts)
            shared = self.quota_index.get((name, name, facts.calendar_name))
            if shared is None:
                shared = _ranked(cases, facts, policy)
            found = shared
            self.quota_index[key] = self.quota_index[(name, name, facts.calendar_name)] = found
        return found


def _ranked(cases: tuple[MonthCase, ...], facts: CustomerFacts, policy: Policy) -> OrgIndex:
    """An organisation's cases ranked in its calendar: as an earlier cycle ranked them when
    it listed the same cases (the policy keeps each organisation's last ranking), else
    ranked now."""
    key = (facts.customer.organization, facts.calendar_name)
    last = policy.ranked_months.get(key)
    if last is not None and last[0] == cases:
        return last[1]
    listed = first_listings(cases)  # each case once: a search's pages may overlap
    refused = policy.refusals(tuple(listed.values()), facts)
    flagged = _flagger(listed.values(), facts, policy, refused)
    index = _org_index(listed, facts.calendar.tz, policy.not_counted, flagged)
    index = index._replace(
        refused=refused, placed=placed(index, facts.tier.cases_per_month, flagged)
    )
    return policy.ranked_months.keep(key, (cases, index))[1]


def _flagger(
    cases: Iterable[MonthCase], facts: CustomerFacts, policy: Policy, refused: Mapping[str, str]
) -> Flagged:
    """Another case's flags that keep it out of the quota (``quota.not_counted_flags``),
    decided once for each way the month's cases were raised (a few hundred ways among
    thousands of cases); a request a usage limit refuses is not entitled."""
    by_raised = {
        raised: raised_flags(
            raised,
            facts.contacts,
            policy.entitlements,
            facts.customer.tier,
            policy.not_counted_flags,
        )
        for raised in {case.raised for case in cases}
    }
    refusing = "not_entitled" in policy.not_counted_flags

    def flagged(case: MonthCase) -> tuple[str, ...]:
        flags = by_raised[case.raised]
        if refusing and case.key in refused:
            flags = tuple(dict.fromkeys((*flags, "not_entitled")))
        return flags

    return flagged


def group_org_cases(
    cases: Iterable[tuple[str | None, MonthCase]],
) -> dict[str, tuple[MonthCase, ...]]:
    """Cases by the organisation they count for, names case-folded (one folding rule on
    every path, as the state and the month search fold); a case counting for none is
    left out.  A cycle and the report group a month's cases with this one function."""
    grouped: dict[str, list[MonthCase]] = defaultdict(list)
    for name, case in cases:
        if name:
            grouped[name.casefold()].append(case)
    return {org: tuple(listed) for org, listed in grouped.items()}


def _find_org_cases(
    org_cases: Mapping[str, tuple[MonthCase, ...]],
    organization: str | None,
    facts: CustomerFacts,
) -> tuple[str, tuple[MonthCase, ...]]:
    """The organisation's name in the context and its cases (exact, then case-insensitive)."""
    names = (organization, facts.customer.organization)
    for name in names:
        if name is not None and name in org_cases:
            return name, org_cases[name]
    wanted = {n.casefold() for n in names if n}
    for name, listed in org_cases.items():
        if name.casefold() in wanted:
            return name, listed
    return "", ()
