"""Plan: desired state vs the issue as read vs its ledger → a few small actions.

Pure: no I/O, no clock.  :func:`plan_issue` is what ``jsm-bridge plan`` prints and what
``run`` hands to :mod:`bridge.sync.apply`, so a dry run is free and shows exactly what a
cycle would do.

Rules (SPEC §5):

* one :class:`EditIssue` per issue carries every field change — response due, SLA state,
  support tier, quota position, priority, assignee — and the labels, through the
  ``add``/``remove`` verbs only (never ``set``): engineers' own labels are never touched;
* a value is written only when it differs from what the issue holds (``FieldMap.same``),
  and only values that change at discrete events are written, never a countdown;
* a comment or transition is planned once: not when its action id is in the ledger, nor
  when a comment on the issue already carries it (a crash after writing, before the
  bookkeeping);
* the comments of one visibility (internal, public) planned for an issue in one cycle
  become one comment, their texts one paragraph each, unless ``merge_comments`` is off
  (each action id is still recorded on its own, and carried by the merged comment);
* a cycle in which nothing changed plans **zero** actions; :class:`SetLedger` appears only
  to repair the ledger (a damaged value, or comments found on the issue that it lacks).
  Recording comments and transitions as they are done is :mod:`apply`'s job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge.jira.fields import FieldMap
from bridge.policy.model import Desired, IssueSnapshot, QuotaPosition
from bridge.policy.priority import told_change
from bridge.sync.ledger import Ledger

#: Logical field names the bridge writes, in the order they are shown.
WRITTEN_FIELDS = ("response_due", "sla_state", "support_tier", "quota_usage")
#: The raw fields :func:`place_of` reads.
PLACE_FIELDS = ("status", "issuetype", "project")

_LABELS = {
    "response_due": "response due",
    "sla_state": "SLA state",
    "support_tier": "support tier",
    "quota_usage": "cases this month",
}


# ----------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class EditIssue:
    """One ``PUT /issue/{key}``: ``fields`` by field id (Jira shapes), ``update`` label verbs."""

    key: str
    fields: Mapping[str, Any]
    update: Mapping[str, Any]
    summary: tuple[str, ...]  # one human line per change ("SLA state running → at_risk")
    #: the Jira name of the priority it sets (``fields["priority"]`` is by id), for the
    #: operator when Jira refuses it
    priority_name: str | None = None
    kind: str = field(default="edit", init=False)


@dataclass(frozen=True)
class AddComment:
    """One comment.  A merged one (``writes.merge_comments``, see :func:`merged`) stands
    for the comments in ``parts``: its ``action_id`` is the first one's, its body their
    texts, and every part's action id is carried by it and recorded once it is posted."""

    key: str
    action_id: str
    body: str
    internal: bool
    parts: tuple[AddComment, ...] = ()
    kind: str = field(default="comment", init=False)

    @property
    def action_ids(self) -> tuple[str, ...]:
        return tuple(p.action_id for p in self.parts) or (self.action_id,)

    @property
    def also(self) -> tuple[str, ...]:
        """The action ids it carries besides its own."""
        return self.action_ids[1:]


@dataclass(frozen=True)
class Transition:
    key: str
    action_id: str
    name: str  # the transition's name in the workflow; its id is looked up when applied
    kind: str = field(default="transition", init=False)


@dataclass(frozen=True)
class SetLedger:
    key: str
    ledger: Ledger
    reason: str
    kind: str = field(default="ledger", init=False)


Action = EditIssue | AddComment | Transition | SetLedger


@dataclass(frozen=True)
class Place:
    """Where an issue stands in its workflow, as read: what decides its transitions.

    Jira offers the transitions of the issue's workflow (per project and issue type)
    from its current status, so issues with the same :attr:`workflow_key` are offered
    the same ones, and apply looks them up once per cycle rather than once per issue.
    """

    project: str
    issue_type: str | None  # issue type id (its name when Jira gives no id)
    status_id: str | None
    status: str | None  # the status's name
    #: the issue's id (what a bulk transition's progress names issues by)
    issue_id: str | None = None

    @property
    def workflow_key(self) -> tuple[str, str, str] | None:
        """``(project, issue type, status)``; None when the read did not say (then each
        issue's transitions are looked up on their own)."""
        if self.issue_type is None or self.status_id is None:
            return None
        return (self.project, self.issue_type, self.status_id)


@dataclass(frozen=True)
class IssuePlan:
    key: str
    actions: tuple[Action, ...]
    #: the ledger apply starts from (as read, plus any repair this plan makes)
    ledger: Ledger
    #: things deliberately not done, for the log and `plan` output
    notes: tuple[str, ...] = ()
    #: the issue's project, type and status as read (for transition look-ups)
    place: Place | None = None
    #: comments an earlier ledger write announced, found on the issue: done, remembered
    #: by the journal, and recorded by this run's ledger write (`_Issue.telling_behind`)
    announced_found: tuple[str, ...] = ()
    #: comments the ledger announces (`Ledger.telling`, not known done) that a wanted
    #: correction follows: left out until the issue's comments say whether they are there
    follows_announced: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.actions)


# ---------------------------------------------------------------------------------- planning


def plan_issue(
    desired: Desired,
    actual: IssueSnapshot,
    raw_fields: Mapping[str, Any],
    ledger: Ledger,
    fieldmap: FieldMap,
    *,
    resolve_priority: Callable[[str], str],
    resolve_user: Callable[[str], str | None],
    quota_as_number: bool | None = None,
    user_ref_key: str = "accountId",
    merge_comments: bool = False,
    issue_id: str | None = None,
    priority_names: Collection[str] | None = None,
) -> IssuePlan:
    """The actions that bring ``actual`` to ``desired``; empty when they already agree.

    ``raw_fields`` is the issue's ``fields`` JSON as read (keyed by field id; a logical
    name is accepted too).  ``resolve_priority`` maps a Jira priority name to its id;
    ``resolve_user`` maps an e-mail to an account id (None when there is no such user).
    ``quota_as_number`` says whether the quota field is a number field (gets ``5``) or
    text/select (gets ``"5 of 4"``); by default it is read from the field map.
    ``user_ref_key`` is how the assignee is named when written: ``accountId`` on Cloud,
    ``name`` on Data Center (where ``resolve_user`` returns the user name).
    ``merge_comments``: one comment per visibility (see the module docstring).
    ``issue_id``: the issue's id, kept in the plan's :class:`Place`.
    ``priority_names``: the name parts of the rules in force's priority comments
    (`Pipeline.change_names`); a change told under another name (a rule renamed since) is
    not told again.  None: no such check.  A change already in Jira (the plan sets no
    priority) is told once a comment of its number is done under any name: the rule that
    holds the priority there now may not be the one that moved it.
    """
    key = actual.key
    notes: list[str] = []
    fields: dict[str, Any] = {}
    summary: list[str] = []

    wanted = _wanted_values(desired, fieldmap, quota_as_number)
    for logical in WRITTEN_FIELDS:
        if logical not in wanted:
            continue
        if logical not in fieldmap:
            continue  # not configured for this site: nothing to write
        fid = fieldmap.id(logical)
        value = wanted[logical]
        current = raw_fields[fid] if fid in raw_fields else raw_fields.get(logical)
        if fieldmap.same(logical, current, value):
            continue
        fields[fid] = fieldmap.encode(logical, value)
        before = _shown(fieldmap.decode(logical, current))
        summary.append(f"{_LABELS[logical]} {before} → {_shown(_display(value))}")

    # priority: by id; None means "leave it alone" (an engineer's choice, or no rule)
    if desired.priority_jira is not None and not _same_name(desired.priority_jira, actual.priority):
        fields["priority"] = {"id": resolve_priority(desired.priority_jira)}
        line = f"priority {_shown(actual.priority)} → {desired.priority_jira}"
        if desired.priority_reason:
            line += f" ({desired.priority_reason})"
        summary.append(line)

    # assignee: only when evaluation asks (an unassigned case someone must own)
    if desired.assignee is not None and not _same_name(desired.assignee, actual.assignee):
        account = resolve_user(desired.assignee)
        if account is None:
            notes.append(f"{key}: cannot assign {desired.assignee}: no such user in Jira")
        elif not _same_name(account, actual.assignee):
            fields["assignee"] = {user_ref_key: account}
            summary.append(f"assignee {_shown(actual.assignee)} → {desired.assignee}")

    # labels: add/remove verbs; present wins over absent should rules ever name both
    add = sorted(desired.labels_present - actual.labels)
    remove = sorted((desired.labels_absent & actual.labels) - desired.labels_present)
    update: dict[str, Any] = {}
    if add or remove:
        update["labels"] = [{"add": x} for x in add] + [{"remove": x} for x in remove]
        summary.append("labels " + " ".join([f"+{x}" for x in add] + [f"-{x}" for x in remove]))

    actions: list[Action] = []
    if fields or update:
        priority_name = desired.priority_jira if "priority" in fields else None
        actions.append(EditIssue(key, fields, update, tuple(summary), priority_name))

    # comments and transitions, once each
    on_issue = {aid: c for c in actual.comments for aid in (*c.action_ids, c.action_id) if aid}
    repair_reasons: list[str] = []
    if ledger.needs_repair:
        repair_reasons.append("the stored ledger was unreadable or of an older shape")
    announced_found: list[str] = []
    for aid in ledger.unsettled:  # announced by an earlier edit's ledger, and posted since
        announced = on_issue.get(aid)
        if announced is not None:
            ledger = ledger.with_done(aid, announced.created)
            announced_found.append(aid)
    seen: set[str] = set()
    comments: list[AddComment] = []
    follows_announced: list[str] = []
    told = _told_changes(
        (*ledger.done, *ledger.skipped, *on_issue), priority_names, "priority" in fields
    )
    for comment in desired.comments:
        if comment.action_id in seen:
            continue
        seen.add(comment.action_id)
        if ledger.handled(comment.action_id):
            continue
        if comment.change in told:
            continue  # the change, told under the name its rule had then
        if comment.follows is not None and not (
            ledger.handled(comment.follows) or comment.follows in on_issue
        ):
            if comment.follows in ledger.telling:  # posted, its answer lost: it may be there
                follows_announced.append(comment.follows)
            continue  # a correction of a comment never posted
        found = on_issue.get(comment.action_id)
        if found is not None:
            # written before, bookkeeping lost (crash): record it, do not write it again
            ledger = ledger.with_done(comment.action_id, found.created)
            repair_reasons.append(f"comment {comment.action_id} is on the issue")
            continue
        comments.append(AddComment(key, comment.action_id, comment.body, not comment.public))
    actions.extend(merged(comments) if merge_comments else comments)
    for transition in desired.transitions:
        if transition.action_id in seen:
            continue
        seen.add(transition.action_id)
        if ledger.handled(transition.action_id):
            continue
        actions.append(Transition(key, transition.action_id, transition.name))

    if repair_reasons:
        ledger = ledger.repaired()
        actions.append(SetLedger(key, ledger, "; ".join(repair_reasons)))
    place = place_of(key, raw_fields, issue_id)
    return IssuePlan(
        key,
        tuple(actions),
        ledger,
        tuple(notes),
        place,
        tuple(announced_found),
        tuple(follows_announced),
    )


def announced_may_be_on_issue(plan: IssuePlan) -> bool:
    """Whether a comment is planned that the stored ledger announced (`Ledger.telling`: the
    priority comment after the edit that carried the ledger, a comment whose answer was
    lost) and that nothing says is done: it may be on the issue already, its journal
    entry lost or pruned since; or a wanted correction waits on such a comment
    (`IssuePlan.follows_announced`: the edit taking the over-quota label off would leave
    it untold for good).  Only the action ids the issue's comments carry say whether it
    is."""
    unsettled = set(plan.ledger.unsettled)
    if not unsettled.isdisjoint(plan.follows_announced):
        return True
    told_some = any(map(told_change, unsettled))  # a change told under another name?
    return bool(unsettled) and any(
        isinstance(action, AddComment)
        and (
            not unsettled.isdisjoint(action.action_ids)
            or (told_some and any(map(told_change, action.action_ids)))
        )
        for action in plan.actions
    )


def told_may_be_compacted(plan: IssuePlan) -> bool:
    """Whether a priority comment is planned while the ledger holds digests.  A ledger
    compacted by a bridge that took its entries strictly oldest first (priority-change
    ids now go last: `bridge.sync.ledger`) may hold a change told under a rule's earlier
    name as a digest only, which no longer says which change it was; then only the
    action ids carried by the issue's comments do."""
    return bool(plan.ledger.compact) and any(
        isinstance(action, AddComment) and any(map(told_change, action.action_ids))
        for action in plan.actions
    )


def _told_changes(
    done: Iterable[str], priority_names: Collection[str] | None, changing: bool
) -> set[int]:
    """The numbers of the bridge's priority changes whose comment is done (``done``: the
    action ids the ledger and the issue's comments hold) in a way that tells the change
    the plan's comment would tell again.

    ``changing``: the plan makes the change now.  Its comment is then told only under a
    name the rules in force no longer use (a rule renamed since): under a name still in
    use it told another change, one whose edit an older bridge lost.  A change already in
    Jira is told under any name: the rule holding the priority now (the customer named
    a production system, say, and another rule keeps the level) may not be the rule that
    moved it, and one comment per change is the rule."""
    return {
        number
        for name, number in filter(None, map(told_change, done))
        if not changing or (priority_names is not None and name not in priority_names)
    }


def merged(comments: Iterable[AddComment]) -> list[AddComment]:
    """One comment per visibility, in the order each visibility first appears: the texts
    one paragraph each, every action id carried (see :class:`AddComment`)."""
    groups: dict[bool, list[AddComment]] = {}
    for comment in comments:
        groups.setdefault(comment.internal, []).extend(comment.parts or (comment,))
    out: list[AddComment] = []
    for internal, group in groups.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        body = "\n\n".join(c.body for c in group)
        out.append(AddComment(group[0].key, group[0].action_id, body, internal, tuple(group)))
    return out


def place_of(key: str, raw_fields: Mapping[str, Any], issue_id: str | None = None) -> Place:
    """The issue's :class:`Place` from its raw ``fields`` (``status``, ``issuetype``,
    ``project``); the project falls back to the key's prefix."""
    project = raw_fields.get("project")
    project_key = project.get("key") if isinstance(project, Mapping) else None
    status = raw_fields.get("status")
    issue_type = raw_fields.get("issuetype")
    return Place(
        project=str(project_key or key.rsplit("-", 1)[0]),
        issue_type=_ref(issue_type, "id") or _ref(issue_type, "name"),
        status_id=_ref(status, "id"),
        status=_ref(status, "name"),
        issue_id=issue_id,
    )


def _ref(value: Any, attr: str) -> str | None:
    if isinstance(value, Mapping) and value.get(attr) not in (None, ""):
        return str(value[attr])
    return None


def _wanted_values(
    desired: Desired, fieldmap: FieldMap, quota_as_number: bool | None
) -> dict[str, Any]:
    """Logical field -> wanted logical value (None clears the field)."""
    if not desired.known_customer:
        # unknown organisation: SLA fields, tier and quota position do not apply
        return dict.fromkeys(WRITTEN_FIELDS)
    quota: Any = None
    if desired.quota is not None:
        number = quota_as_number if quota_as_number is not None else _is_number(fieldmap)
        quota = _quota_value(desired.quota, number)
    return {
        "response_due": desired.response_due,
        # `none` means no target applies: the field is cleared (SPEC §3)
        "sla_state": None if desired.sla_state == "none" else desired.sla_state,
        "support_tier": desired.tier,
        "quota_usage": quota,
    }


def _quota_value(quota: QuotaPosition, as_number: bool) -> int | str:
    return quota.used if as_number else f"{quota.used} of {quota.limit}"


def _is_number(fieldmap: FieldMap) -> bool:
    """Whether the quota field is a number field (from the site's field list)."""
    site_field = fieldmap.get("quota_usage")
    return site_field is not None and site_field.kind == "number"


def _same_name(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.casefold() == b.casefold()


def _display(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return str(value)


def _shown(text: str | None) -> str:
    return "(empty)" if text is None or text == "" else text


# ---------------------------------------------------------------------------------- showing


def _plans(plan: IssuePlan | Iterable[IssuePlan]) -> list[IssuePlan]:
    return [plan] if isinstance(plan, IssuePlan) else list(plan)


def _quote(text: str) -> str:
    """The whole comment on one line: a lead previews exactly what the customer will read."""
    return "'" + " ".join(text.split()) + "'"


def describe_action(action: Action) -> list[str]:
    k = action.key
    if isinstance(action, EditIssue):
        return [f"{k}: {line}" for line in action.summary]
    if isinstance(action, AddComment):
        visibility = "internal" if action.internal else "public"
        return [f"{k}: comment ({visibility}) {_quote(action.body)}"]
    if isinstance(action, Transition):
        return [f"{k}: transition '{action.name}'"]
    return [f"{k}: rewrite the jsm-bridge ledger ({action.reason})"]


def describe(plan: IssuePlan | Iterable[IssuePlan]) -> list[str]:
    """Human lines for ``jsm-bridge plan``, grouped by issue; notes after the actions."""
    lines: list[str] = []
    for p in _plans(plan):
        for action in p.actions:
            lines.extend(describe_action(action))
        lines.extend(f"{note} (skipped)" for note in p.notes)
    return lines


def in_brief(plan: IssuePlan) -> str:
    """The plan's actions in a few words ("4 fields, +sla-breached, →Escalate, 1 internal
    comment"; "" when it has none): what a cycle keeps of a written case's plan, and
    the demo's table shows."""
    comments: Counter[str] = Counter()
    bits: list[str] = []
    for action in plan.actions:
        if isinstance(action, EditIssue):
            n = len(action.fields)
            if n:
                bits.append(f"{n} field{'s' if n != 1 else ''}")
            bits.extend(
                ("+" if verb == "add" else "-") + str(value)
                for op in action.update.get("labels", [])
                for verb, value in op.items()
            )
        elif isinstance(action, Transition):
            bits.append(f"→{action.name}")
        elif isinstance(action, AddComment):
            comments["internal" if action.internal else "public"] += 1
    for visibility in ("public", "internal"):
        if comments[visibility]:
            n = comments[visibility]
            bits.append(f"{n} {visibility} comment{'s' if n > 1 else ''}")
    return ", ".join(bits)


def action_to_json(action: Action) -> dict[str, Any]:
    if isinstance(action, EditIssue):
        return {
            "kind": action.kind,
            "fields": dict(action.fields),
            "update": dict(action.update),
            "summary": list(action.summary),
        }
    if isinstance(action, AddComment):
        out: dict[str, Any] = {
            "kind": action.kind,
            "action_id": action.action_id,
            "internal": action.internal,
            "body": action.body,
        }
        if action.also:
            out["action_ids"] = list(action.action_ids)
        return out
    if isinstance(action, Transition):
        return {"kind": action.kind, "action_id": action.action_id, "name": action.name}
    return {"kind": action.kind, "reason": action.reason, "ledger": action.ledger.to_dict()}


def to_json(plan: IssuePlan | Iterable[IssuePlan]) -> list[dict[str, Any]]:
    """JSON-ready list for ``jsm-bridge plan --json``: one entry per issue with actions."""
    return [
        {
            "key": p.key,
            "actions": [action_to_json(a) for a in p.actions],
            "notes": list(p.notes),
        }
        for p in _plans(plan)
        if p.actions or p.notes
    ]
