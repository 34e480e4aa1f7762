"""What the decisions ask to write on a case: labels, comments, transitions, assignee.

Read off the decision records (``bridge.policy.evaluate.Decisions``); comments
carry their template and the case's values and are rendered only when their
text is read (the planner reads the text of comments it is about to post).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Literal, NamedTuple

from bridge.policy.compiled import Conditions, CustomerDecision, CustomerFacts, Flags, Policy
from bridge.policy.model import (
    CommentTemplate,
    DesiredComment,
    DesiredTransition,
    IssueSnapshot,
    PriorityLevel,
    QuotaPosition,
)
from bridge.policy.templates import PLACEHOLDERS, neutralise
from bridge.policy.templates import render as render_template

if TYPE_CHECKING:  # pragma: no cover
    from bridge.policy.evaluate import Decisions
    from bridge.policy.priority import BridgeChange


def reporter_text(snapshot: IssueSnapshot) -> str:
    reporter = snapshot.reporter
    if reporter is None:
        return "(no reporter)"
    if reporter.email:
        return f"{reporter.display_name} <{reporter.email}>"
    return reporter.display_name


#: Jira's user mention in wiki markup: ``[~accountid:ID]`` on Cloud, ``[~username]`` on
#: Data Center (the only markup a value may carry, see ``TemplateValues._plain``)
_MENTION = re.compile(r"\[~(accountid:)?[\w.@+:-]+\]")


class TemplateValues:
    """The placeholder values of SPEC §3 for one case, each made only when a template
    uses it (``{due}``, a zone conversion and formatting, is the costly one)."""

    def __init__(
        self,
        snapshot: IssueSnapshot,
        policy: Policy,
        level: PriorityLevel | None,
        due: datetime | None,
        facts: CustomerFacts | None,
        quota: QuotaPosition | None,
        missing: str,
        *,
        customers: tuple[str, ...] = (),
        change: BridgeChange | None = None,
        mentions: Mapping[str, str] | None = None,
        why: str = "",
        jira_name: str | None = None,
    ) -> None:
        self.snapshot, self.policy, self.level, self.due = snapshot, policy, level, due
        self.facts, self.quota, self.missing = facts, quota, missing
        self.customers = customers  # the customers a reporter matched (no organisation)
        self.change = change  # the priority change the bridge makes now, if any
        self.mentions = mentions or {}  # person (folded) -> Jira's mention markup
        self.why = why  # why a usage limit refuses the request
        #: the Jira priority the case carries or is given for ``level`` (an engineer's
        #: "Trivial" stays "Trivial"); None: the level's own name
        self.jira_name = jira_name

    def _plain(self, name: str) -> str:
        """A placeholder's value as plain text; the escalation owner's mention, which the
        bridge made from the rules and Jira's account, is kept as markup."""
        value = self.value(name)
        if name == "escalation_owner" and _MENTION.fullmatch(value):
            return value
        return neutralise(value)

    def value(self, name: str) -> str:
        """One placeholder's value ("" when the case has none)."""
        snapshot, facts, quota = self.snapshot, self.facts, self.quota
        if name == "key":
            return snapshot.key
        if name == "priority":
            return self.level or ""
        if name == "priority_name":
            names = self.policy.rules.priorities.jira_names
            named = self.jira_name or (names.get(self.level, "") if self.level else "")
            return named or (snapshot.priority or "")
        if name == "due":
            due = self.due
            return facts.calendar.format(due) if facts is not None and due is not None else ""
        if name == "tier":
            return facts.tier.name if facts is not None else ""
        if name == "quota_used" or name == "quota_limit":
            return "" if quota is None else str(quota.used if name == "quota_used" else quota.limit)
        if name == "reporter":
            return reporter_text(snapshot)
        if name == "missing":
            return self.missing
        if name == "escalation_owner":  # a mention, so Jira tells them, when known
            owner = (facts.escalation_owner if facts is not None else None) or ""
            return self.mentions.get(owner.casefold(), owner)
        if name == "organization":  # a case naming none is its customer's, when found
            return snapshot.organization or (facts.customer.organization if facts else "")
        if name == "request_type":
            return snapshot.request_type or ""
        if name == "customers":
            return ", ".join(self.customers)
        if name == "why":
            return self.why
        if name == "previous_priority":
            return self.change.before if self.change is not None else ""
        if name == "rule":
            return self.change.rule_text if self.change is not None else ""
        return ""

    def render(self, text: str) -> str:
        """The template filled with this case's values."""
        template = self.policy.template(text)
        # values come from people (display names, organisations): plain text only
        if template is None:
            return render_template(text, {name: self._plain(name) for name in PLACEHOLDERS})
        return template.pattern.format_map({name: self._plain(name) for name in template.names})

    def comment(
        self,
        action_id: str,
        template: CommentTemplate,
        change: int | None = None,
        follows: str | None = None,
    ) -> DesiredComment:
        """The comment, rendered when its text is first read (``change``, ``follows``: see
        `DesiredComment`)."""
        public = template.visibility == "public"
        return DesiredComment.deferred(
            action_id, public, self.render, template.text, change, follows
        )


class Writes(NamedTuple):
    labels_present: frozenset[str]
    labels_absent: frozenset[str]
    comments: tuple[DesiredComment, ...]
    transitions: tuple[DesiredTransition, ...]
    assignee: str | None


NOTHING = Writes(frozenset(), frozenset(), (), (), None)


def unknown_customer_writes(
    snapshot: IssueSnapshot, policy: Policy, customer: CustomerDecision | None = None
) -> Writes:
    """An unknown customer's open case gets the ``unknown_customer`` label and comment:
    the organisation's comment, or for a case naming no organisation the one saying
    its reporter matched no customer, or several (named)."""
    flag = policy.unknown
    if snapshot.status_category == "done":
        return NOTHING
    basis = customer.basis if customer is not None else "unknown_organization"
    template, action_id = flag.comment, f"{snapshot.key}/unknown-customer"
    if basis == "no_match":
        template, action_id = flag.no_organization_comment, f"{action_id}/no-organization"
    elif basis == "several":
        template, action_id = flag.several_customers_comment, f"{action_id}/several-customers"
    comments: tuple[DesiredComment, ...] = ()
    if template is not None:
        level = policy.priority.level_of(snapshot.priority)
        candidates = customer.candidates if customer is not None else ()
        values = TemplateValues(snapshot, policy, level, None, None, None, "", customers=candidates)
        comments = (values.comment(action_id, template),)
    labels = frozenset((flag.label,)) if flag.label else frozenset()
    return Writes(labels, frozenset(), comments, (), None)


def writes_of(snapshot: IssueSnapshot, policy: Policy, decisions: Decisions) -> Writes:
    """A known customer's writes; a resolved case gets none (its fields only)."""
    if not decisions.open:
        return NOTHING
    key, flags, entitlement = snapshot.key, policy.flags, decisions.entitlement
    position = decisions.quota.position
    over = position is not None and position.over
    holds = Conditions(
        unauthorised=not decisions.contact.authorised,
        over_quota=over,
        not_entitled=entitlement.not_entitled,
        needs_info=bool(decisions.information.missing),
    )
    channel = decisions.channel
    present, absent, before, after = flags.writes[
        holds, bool(entitlement.refused), channel.remind, channel.answered
    ]
    # the conditions' comments, then the priority change's, then needs-info's and the
    # channel reminder's
    values = decisions.values
    comments = [values.comment(f"{key}/{part}", template) for part, template in before]
    cleared = over_quota_cleared(snapshot, decisions, flags)
    if cleared is not None:  # the correction of the over-quota comment
        comments.append(
            values.comment(f"{key}/over-quota/cleared", cleared, follows=_corrected(key, policy))
        )
    change = decisions.priority_write.change
    if change is not None and change.template is not None:
        comments.append(values.comment(key + change.id_part, change.template, change.number))
    comments.extend(values.comment(f"{key}/{part}", template) for part, template in after)
    transitions: list[DesiredTransition] = []
    if (
        flags.over_quota_transition is not None
        and over_quota_move(decisions, flags) == "transition"
    ):
        name, name_slug = flags.over_quota_transition
        transitions.append(DesiredTransition(f"{key}/over-quota-transition/{name_slug}", name))
    assignee = decisions.assignment.assignee
    ladder = decisions.ladder
    if ladder is not None:
        if ladder.labels:
            present = present | ladder.labels
            absent = absent - present
        comments.extend(ladder.comments)
        transitions.extend(ladder.transitions)
        assignee = ladder.assignee if ladder.assignee is not None else assignee
    return Writes(present, absent, tuple(comments), tuple(transitions), assignee)


def over_quota_move(decisions: Decisions, flags: Flags) -> Literal["", "transition", "answered"]:
    """Whether an over-quota case is moved by the over-quota transition: "transition";
    "answered": not, the case has a first response (a case an engineer already took up
    is not bounced to approval); "": not over quota, or the rules name no transition."""
    position = decisions.quota.position
    if position is None or not position.over or flags.over_quota_transition is None:
        return ""
    return "answered" if answered(decisions) else "transition"


def _corrected(key: str, policy: Policy) -> str | None:
    """The over-quota comment the correction follows: told only after it (the label alone
    may have landed); None when the rules post none (the label alone said it)."""
    return f"{key}/over-quota" if policy.rules.quota.over_quota.comment is not None else None


def over_quota_cleared(
    snapshot: IssueSnapshot, decisions: Decisions, flags: Flags
) -> CommentTemplate | None:
    """The correction to post on a case the bridge flagged over quota (it carries the
    over-quota label, as read) that counts and is within the quota now, say because an
    older case of its month was resolved as not counted; None otherwise.  Its action id
    keeps it to one per case: a case over quota again later gets the label back, not a
    second comment of either kind."""
    cleared, position = flags.over_quota_cleared, decisions.quota.position
    if cleared is None or position is None or position.over or not decisions.open:
        return None
    label, template = cleared
    return template if label in snapshot.labels else None


def answered(decisions: Decisions) -> bool:
    """The case has a first response (a case an engineer took up is not bounced)."""
    clock = decisions.clock
    return clock is not None and clock.first_response is not None
