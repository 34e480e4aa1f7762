"""SPEC §2 clauses about the customer: tiers, contacts, quota, entitlements,
named engineer, required information, unknown organisations, resolved cases."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest
from policy_factories import (
    ACME,
    GLOBEX,
    INTERN,
    OPS,
    SAM,
    at,
    comment,
    context,
    customer_user,
    default_ruleset,
    evaluate,
    month_case,
    snapshot,
)

from bridge.policy.compiled import Policy
from bridge.policy.cycle import Cycle
from bridge.policy.evaluate import evaluate as evaluate_in_cycle
from bridge.policy.model import (
    Actor,
    Desired,
    EvalContext,
    FlagPolicy,
    IssueSnapshot,
    MonthCase,
    OverQuotaPolicy,
    Person,
    RuleSet,
)
from bridge.policy.tiers import month_case as listed_case

NOW = at("2026-11-30T10:00:00+10:00")  # Mon 10:00 Brisbane
RULES = default_ruleset()
CONDITION_LABELS = {"over-quota", "unauthorised-contact", "not-entitled", "needs-info"}


def run(
    case: IssueSnapshot, ctx: EvalContext | None = None, rules: RuleSet = RULES, now=NOW
) -> Desired:
    return evaluate(case, rules, ctx or context(), now)


def ids(desired: Desired) -> list[str]:
    return [c.action_id for c in desired.comments]


# --------------------------------------------------------------------------- tiers


@pytest.mark.parametrize(
    ("organization", "created", "tier", "calendar"),
    [
        ("Acme Networks", "2026-11-30T09:00:00+10:00", "Standard", "brisbane"),
        ("Initech Systems", "2026-11-30T09:00:00+00:00", "Premium", "london"),
        ("Globex Telecom", "2026-11-30T09:00:00-05:00", "Enterprise", "new-york"),
        ("globex telecom", "2026-11-30T09:00:00-05:00", "Enterprise", "new-york"),
    ],
)
def test_each_organisation_maps_to_its_tier_and_calendar(organization, created, tier, calendar):
    reporter = {"Acme Networks": OPS}.get(organization)
    case = snapshot(created=created, organization=organization, reporter=reporter or "default")
    desired = run(case, now=at(created))
    assert desired.known_customer
    assert desired.tier == tier
    assert desired.calendar == calendar
    assert desired.explanation[0].topic == "tier"
    assert tier in desired.explanation[0].text


def test_customer_without_a_known_calendar_uses_the_default_calendar():
    odd = dataclasses.replace(GLOBEX, organization="Odd Co", calendar="mars")
    rules = default_ruleset(customers={**RULES.customers, "Odd Co": odd})
    case = snapshot(organization="Odd Co", reporter=customer_user("noc@globex.example"))
    assert run(case, rules=rules).calendar == "brisbane"


# ------------------------------------------------------------------------ contacts


@pytest.mark.parametrize(
    ("organization", "reporter", "authorised"),
    [
        ("Acme Networks", OPS, True),
        ("Acme Networks", customer_user("OPS@Acme.Example"), True),  # case-insensitive
        ("Acme Networks", INTERN, False),  # a user of the org, but not a contact
        ("Acme Networks", customer_user("noc@globex.example"), False),  # another org's contact
        ("Globex Telecom", customer_user("cto@globex.example"), True),  # third enterprise contact
        ("Initech Systems", customer_user("bob@initech.example"), False),
        ("Acme Networks", SAM, True),  # an agent raising it on the customer's behalf
        ("Acme Networks", None, False),  # no reporter at all
    ],
)
def test_reporter_must_be_an_authorised_contact(organization, reporter, authorised):
    desired = run(snapshot(organization=organization, reporter=reporter))
    assert desired.authorised_contact is authorised
    if authorised:
        assert "unauthorised-contact" in desired.labels_absent
        assert "unauthorised-contact" not in desired.labels_present
        assert f"{desired.key}/unauthorised-contact" not in ids(desired)
    else:
        assert "unauthorised-contact" in desired.labels_present
        assert "unauthorised-contact" not in desired.labels_absent
        assert ids(desired).count("SUP-1/unauthorised-contact") == 1


def test_unauthorised_contact_comment_names_reporter_and_is_internal():
    desired = run(snapshot(reporter=INTERN))
    (flag,) = [c for c in desired.comments if c.action_id == "SUP-1/unauthorised-contact"]
    assert not flag.public
    assert flag.body == (
        "SUP-1: Acme Intern <intern@acme.example> is not an authorised contact of Acme Networks."
    )


def test_agent_raising_on_behalf_is_explained():
    desired = run(snapshot(reporter=SAM))
    contact = [e.text for e in desired.explanation if e.topic == "contact"]
    assert contact and "on the customer's behalf" in contact[0]


def test_a_contact_listed_by_account_id_counts_for_the_other_cases_of_its_month():
    """One contact rule for a case and for its month's ranking: a reporter who has an
    e-mail but is listed by account id raised an authorised case, which therefore
    uses up the quota of the cases after it (quota.not_counted_flags keeps only
    unauthorised contacts' cases out)."""
    ann = Person("acc-ann", "Ann", "ann@acme.example", Actor.CUSTOMER)
    acme = replace(ACME, contacts=("ops@acme.example", "ACC-ANN"))
    rules = default_ruleset(customers={**RULES.customers, "Acme Networks": acme})
    cases = [
        snapshot(f"SUP-{n}", f"2026-11-0{n}T10:00:00+10:00", reporter=ann if n == 2 else OPS)
        for n in (2, 3, 4, 5, 6)
    ]
    ctx = context({"Acme Networks": [listed_case(c) for c in cases]})
    policy = Policy.compile(rules)
    cycle = Cycle.start(NOW, ctx)
    own, fifth = (evaluate_in_cycle(c, policy, cycle) for c in (cases[0], cases[-1]))
    assert own.authorised_contact
    assert "unauthorised-contact" in own.labels_absent
    assert own.quota is not None and (own.quota.used, own.quota.over) == (1, False)
    # SUP-2 counts: SUP-6 is the month's fifth case of four
    assert fifth.quota is not None
    assert (fifth.quota.used, fifth.quota.limit, fifth.quota.over) == (5, 4, True)
    assert "over-quota" in fifth.labels_present


def test_a_case_naming_no_organisation_finds_its_customer_by_a_contact_listed_by_account_id():
    """A reporter whose e-mail Jira hides is found by the account id the customer lists,
    as the contact rule matches either id: the case is the customer's, by an authorised
    contact, not an unknown customer's."""
    hidden = Person("acc-ann", "Ann", None, Actor.CUSTOMER)
    acme = replace(ACME, contacts=("ops@acme.example", "ACC-ANN"))
    rules = default_ruleset(customers={**RULES.customers, "Acme Networks": acme})
    desired = evaluate_in_cycle(
        snapshot(organization=None, reporter=hidden), Policy.compile(rules), Cycle.start(NOW)
    )
    assert desired.known_customer and desired.customer == "Acme Networks"
    assert desired.authorised_contact


# --------------------------------------------------------------------------- quota


def acme_month(*extra, key_prefix="SUP-"):
    """Four earlier Acme cases in November 2026 (Brisbane), SUP-2..SUP-5."""
    cases = [month_case(f"{key_prefix}{n}", f"2026-11-0{n}T10:00:00+10:00") for n in (2, 3, 4, 5)]
    return {"Acme Networks": [*cases, *extra]}


def test_a_cycle_evaluates_its_cases_with_the_one_policy_it_was_first_used_with():
    """What a cycle keeps (the month's ranking, the required-information check) was
    decided by its policy: a case evaluated with other rules needs a cycle of its own."""
    ctx, case = context(acme_month()), snapshot("SUP-9", created="2026-11-30T09:00:00+10:00")
    roomy_tier = replace(RULES.tiers["standard"], cases_per_month=10)
    four, ten = (
        Policy.compile(RULES),
        Policy.compile(replace(RULES, tiers={**RULES.tiers, "standard": roomy_tier})),
    )
    cycle = Cycle.start(NOW, ctx)
    assert evaluate_in_cycle(case, four, cycle).quota.over
    assert evaluate_in_cycle(case, four, cycle).quota.over  # the same policy again
    with pytest.raises(ValueError, match="one compiled policy"):
        evaluate_in_cycle(case, ten, cycle)
    assert not evaluate_in_cycle(case, ten, Cycle.start(NOW, ctx)).quota.over


def test_a_later_cycle_ranks_a_month_again_when_its_cases_changed_and_not_otherwise():
    """The compiled rules keep each organisation's ranking from cycle to cycle: a later
    cycle listing the same cases (an equal listing, made afresh) places the case as
    before; one whose month changed (an older case now a duplicate, a case listed as
    the snapshot describes it) is ranked again, never read off the stale ranking."""
    policy = Policy.compile(RULES)
    listed = listed_case(snapshot("SUP-9", created="2026-11-30T09:00:00+10:00"))
    case = snapshot("SUP-9", created="2026-11-30T09:00:00+10:00")

    def place(month: dict[str, list[MonthCase]]) -> tuple[int, bool]:
        desired = evaluate_in_cycle(case, policy, Cycle.start(NOW, context(month)))
        assert desired.quota is not None
        return desired.quota.used, desired.quota.over

    assert place(acme_month(listed)) == (5, True)
    assert place(acme_month(listed)) == (5, True)  # the same cases, listed anew
    freed = acme_month(listed)
    freed["Acme Networks"][1] = month_case("SUP-3", "2026-11-03T10:00:00+10:00", "Duplicate")
    assert place(freed) == (4, False)
    assert place(acme_month(listed)) == (5, True)  # the duplicate reopened
    later = acme_month(listed._replace(created=at("2026-12-01T09:00:00+10:00")))
    assert place(later) == (5, True)  # the listing is outdated: ranked as the case says


def test_fifth_case_of_a_standard_month_is_over_quota():
    case = snapshot("SUP-9", created="2026-11-30T09:00:00+10:00")
    desired = run(case, context(acme_month()))
    assert desired.quota is not None
    assert (desired.quota.used, desired.quota.limit, desired.quota.over) == (5, 4, True)
    assert desired.quota.month == "2026-11"
    assert "over-quota" in desired.labels_present
    (flag,) = [c for c in desired.comments if c.action_id == "SUP-9/over-quota"]
    assert flag.public
    assert flag.body == "Case SUP-9 is case 5 of 4 included this month for Acme Networks."
    quota_notes = [e.text for e in desired.explanation if e.topic == "quota"]
    assert "SUP-2, SUP-3, SUP-4, SUP-5, SUP-9" in quota_notes[0]


def test_fourth_case_is_within_quota_and_the_label_is_absent():
    ctx = acme_month()
    ctx["Acme Networks"] = ctx["Acme Networks"][:3]
    desired = run(snapshot("SUP-9"), context(ctx))
    assert desired.quota is not None
    assert (desired.quota.used, desired.quota.over) == (4, False)
    assert "over-quota" in desired.labels_absent
    assert "SUP-9/over-quota" not in ids(desired)


CLEARED = (
    "Case SUP-9 is within the 4 cases included this month for Acme Networks after all: it is "
    "now case 4 of 4."
)


def test_a_case_flagged_over_quota_and_within_it_now_gets_one_correction():
    """SUP-9 was the fifth case (flagged: it carries the label); SUP-3 is a duplicate now,
    so SUP-9 is the fourth: the customer is told, and the label comes off."""
    ctx = acme_month()
    ctx["Acme Networks"][1] = month_case("SUP-3", "2026-11-03T10:00:00+10:00", "Duplicate")
    desired = run(snapshot("SUP-9", labels=["over-quota"]), context(ctx))
    assert desired.quota is not None
    assert (desired.quota.used, desired.quota.over) == (4, False)
    assert "over-quota" in desired.labels_absent
    (correction,) = [c for c in desired.comments if "over-quota" in c.action_id]
    assert correction.action_id == "SUP-9/over-quota/cleared"
    assert (correction.public, correction.body) == (True, CLEARED)
    explained = [e.text for e in desired.explanation if e.topic == "quota"]
    assert any("SUP-9/over-quota/cleared" in text for text in explained), explained


def test_only_an_open_case_flagged_over_quota_and_within_it_now_is_corrected():
    """The correction needs all three: the label (the bridge flagged it: a case never
    over quota has nothing to correct), a place within the quota, an open case."""
    freed = acme_month()
    freed["Acme Networks"][1] = month_case("SUP-3", "2026-11-03T10:00:00+10:00", "Duplicate")
    flagged, resolved = {"labels": ["over-quota"]}, {"status": "Resolved", "resolution": "Done"}
    for ctx, kwargs, corrected in (
        (freed, flagged, True),
        (freed, {}, False),  # never flagged
        (acme_month(), flagged, False),  # still the fifth: over quota
        (freed, {**flagged, **resolved}, False),  # resolved: fields only
    ):
        desired = run(snapshot("SUP-9", **kwargs), context(ctx))
        assert ("SUP-9/over-quota/cleared" in ids(desired)) is corrected, kwargs


def test_the_correction_follows_the_over_quota_comment():
    """An internal over-quota comment is corrected internally; none is corrected by none;
    a flag given as a plain label corrects nothing; rules may give their own text."""
    ctx = acme_month()
    ctx["Acme Networks"][1] = month_case("SUP-3", "2026-11-03T10:00:00+10:00", "Duplicate")
    case = snapshot("SUP-9", labels=["over-quota"])
    said = RULES.quota.over_quota.comment
    assert said is not None

    def correction(over: FlagPolicy) -> tuple[bool, str] | None:
        rules = replace(RULES, quota=replace(RULES.quota, over_quota=over))
        found = [c for c in run(case, context(ctx), rules).comments if "/cleared" in c.action_id]
        return (found[0].public, found[0].body) if found else None

    internal = replace(said, visibility="internal")
    assert correction(FlagPolicy("over-quota", internal)) == (False, CLEARED)
    assert correction(FlagPolicy("over-quota")) is None
    own = replace(said, text="{key}: within the quota after all ({quota_used}/{quota_limit}).")
    assert correction(OverQuotaPolicy("over-quota", said, None, own)) == (
        True,
        "SUP-9: within the quota after all (4/4).",
    )
    assert correction(OverQuotaPolicy("over-quota", said, None, None)) is None


def test_quota_is_ranked_oldest_first_not_by_key():
    # SUP-9 was created before SUP-2..5 (imported late, say): it is first
    case = snapshot("SUP-9", created="2026-11-01T08:00:00+10:00")
    desired = run(case, context(acme_month()), now=at("2026-11-02T09:00:00+10:00"))
    assert desired.quota is not None and desired.quota.used == 1


def test_quota_ties_are_broken_by_key_number_not_text():
    same = "2026-11-30T09:00:00+10:00"
    ctx = {
        "Acme Networks": [
            month_case("SUP-10", same),
            month_case("SUP-9", same),
            month_case("SUP-100", same),
        ]
    }
    ranks = {
        key: run(snapshot(key, created=same), context(ctx)).quota.used  # type: ignore[union-attr]
        for key in ("SUP-9", "SUP-10", "SUP-100")
    }
    assert ranks == {"SUP-9": 1, "SUP-10": 2, "SUP-100": 3}


@pytest.mark.parametrize("resolution", ["Duplicate", "raised in error", "DUPLICATE"])
def test_cases_with_excluded_resolutions_do_not_count(resolution):
    month = acme_month()
    month["Acme Networks"][0] = month_case("SUP-2", "2026-11-02T10:00:00+10:00", resolution)
    desired = run(snapshot("SUP-9"), context(month))
    assert desired.quota is not None
    assert (desired.quota.used, desired.quota.over) == (4, False)


def test_cases_with_other_resolutions_still_count():
    month = acme_month()
    month["Acme Networks"][0] = month_case("SUP-2", "2026-11-02T10:00:00+10:00", "Won't do")
    desired = run(snapshot("SUP-9"), context(month))
    assert desired.quota is not None and desired.quota.over


def test_a_case_itself_excluded_by_resolution_has_no_quota_position():
    case = snapshot(
        "SUP-9",
        status_history=[("2026-11-30T09:30:00+10:00", "Resolved")],
        resolution="Duplicate",
    )
    desired = run(case, context(acme_month()))
    assert desired.quota is None


def test_month_boundary_is_the_customer_calendar_zone():
    # 2026-11-30T15:00Z is Tue 1 Dec 01:00 in Brisbane: a new month, first case of December
    case = snapshot("SUP-9", created="2026-11-30T15:00:00Z")
    desired = run(case, context(acme_month()), now=at("2026-12-01T10:00:00+10:00"))
    assert desired.quota is not None
    assert (desired.quota.used, desired.quota.month, desired.quota.over) == (1, "2026-12", False)


def test_case_created_late_october_utc_counts_in_november_brisbane():
    # 2026-10-31T14:30Z is 1 Nov 00:30 in Brisbane: it counts in November
    early = month_case("SUP-1", "2026-10-31T14:30:00Z")
    month = acme_month(early)
    desired = run(snapshot("SUP-9"), context(month))
    assert desired.quota is not None and desired.quota.used == 6


def test_case_missing_from_the_context_is_added():
    desired = run(snapshot("SUP-9"), EvalContext())
    assert desired.quota is not None
    assert (desired.quota.used, desired.quota.limit) == (1, 4)


def test_over_quota_transition_when_configured():
    over = dataclasses.replace(RULES.quota.over_quota, transition="Needs approval")
    rules = default_ruleset(quota=dataclasses.replace(RULES.quota, over_quota=over))
    desired = run(snapshot("SUP-9"), context(acme_month()), rules=rules)
    assert [(t.action_id, t.name) for t in desired.transitions] == [
        ("SUP-9/over-quota-transition/needs-approval", "Needs approval")
    ]
    # not when the case was already taken up by an engineer
    answered = snapshot("SUP-9", comments=[comment(SAM, "2026-11-30T09:30:00+10:00")])
    assert run(answered, context(acme_month()), rules=rules).transitions == ()


def test_other_organisations_cases_do_not_count():
    ctx = {"Initech Systems": acme_month()["Acme Networks"]}
    desired = run(snapshot("SUP-9"), context(ctx))
    assert desired.quota is not None and desired.quota.used == 1


# --------------------------------------------------------------------- entitlements


@pytest.mark.parametrize(
    ("organization", "request_type", "problems"),
    [
        ("Acme Networks", "Screen share session", ("screen_share",)),
        ("Acme Networks", "Architecture workshop", ("architecture_workshop",)),
        ("Acme Networks", "Technical support", ()),
        ("Initech Systems", "Screen share session", ()),
        ("Initech Systems", "product webinar", ("product_webinar",)),
        ("Globex Telecom", "Product webinar", ()),
        ("Acme Networks", None, ()),
    ],
)
def test_request_type_needs_an_entitlement_of_the_tier(organization, request_type, problems):
    desired = run(snapshot(organization=organization, request_type=request_type))
    assert desired.entitlement_problems == problems
    if problems:
        assert "not-entitled" in desired.labels_present
        assert "SUP-1/not-entitled" in ids(desired)
    else:
        assert "not-entitled" in desired.labels_absent
        assert "SUP-1/not-entitled" not in ids(desired)


def test_not_entitled_comment_text():
    desired = run(snapshot(request_type="Screen share session"))
    (flag,) = [c for c in desired.comments if c.action_id == "SUP-1/not-entitled"]
    assert flag.public
    assert flag.body == "SUP-1: Screen share session is not included in the Standard tier."


# ------------------------------------------------------------------ named engineer


@pytest.mark.parametrize(
    ("organization", "assignee", "expected"),
    [
        ("Globex Telecom", None, "jane.engineer@vendor.example"),
        ("Globex Telecom", "sam.agent@vendor.example", None),  # never reassign
        ("Initech Systems", None, None),  # premium: no named engineer
        ("Acme Networks", None, None),
    ],
)
def test_enterprise_cases_go_to_the_named_engineer(organization, assignee, expected):
    case = snapshot(
        organization=organization, created="2026-11-30T09:00:00-05:00", assignee=assignee
    )
    desired = run(case, now=at("2026-11-30T09:30:00-05:00"))
    assert desired.assignee == expected


def test_named_engineer_needs_the_entitlement_of_the_tier():
    # a premium customer with a named engineer on file does not get one
    initech = dataclasses.replace(
        RULES.customers["Initech Systems"], named_engineer="priya.lead@vendor.example"
    )
    rules = default_ruleset(customers={**RULES.customers, "Initech Systems": initech})
    case = snapshot(organization="Initech Systems", created="2026-11-30T09:00:00Z")
    assert run(case, rules=rules, now=at("2026-11-30T09:30:00Z")).assignee is None


# -------------------------------------------------------------- required information


def test_missing_information_is_asked_for_by_field_name():
    case = snapshot(extra_fields={"product_version": None, "impact": "  "})
    desired = run(case)
    assert desired.missing_information == ("product_version", "impact")
    assert "needs-info" in desired.labels_present
    (ask,) = [c for c in desired.comments if c.action_id == "SUP-1/needs-info"]
    assert ask.public
    assert ask.body == "To work on SUP-1 we still need: Product version, Impact."


def test_missing_information_falls_back_to_logical_names():
    case = snapshot(extra_fields={"contact_phone": None})
    desired = run(case, context(field_names={}))
    (ask,) = [c for c in desired.comments if c.action_id == "SUP-1/needs-info"]
    assert ask.body == "To work on SUP-1 we still need: contact_phone or contact_skype."


def test_needs_info_label_is_absent_once_supplied():
    desired = run(snapshot())
    assert desired.missing_information == ()
    assert "needs-info" in desired.labels_absent
    assert "SUP-1/needs-info" not in ids(desired)


def test_condition_labels_are_absent_when_every_condition_is_fixed():
    desired = run(snapshot())
    assert desired.labels_present == frozenset()
    assert CONDITION_LABELS | {"unknown-customer"} <= desired.labels_absent


def test_labels_present_never_listed_absent_even_when_policies_share_a_label():
    shared = FlagPolicy(label="attention", comment=None)
    rules = default_ruleset(unauthorised_contact=shared, not_entitled=shared)
    desired = run(snapshot(reporter=INTERN), rules=rules)  # unauthorised, but entitled
    assert "attention" in desired.labels_present
    assert "attention" not in desired.labels_absent


# ------------------------------------------------------------------ unknown customer


@pytest.mark.parametrize("organization", ["Umbrella Labs", None])
def test_unknown_organisation_gets_only_the_unknown_customer_treatment(organization):
    case = snapshot(
        organization=organization,
        reporter=customer_user("help@umbrella.example"),
        request_type="Screen share session",
        fields={},
        priority="Blocker",
    )
    desired = run(case, context({"Umbrella Labs": acme_month()["Acme Networks"]}))
    assert not desired.known_customer
    assert desired.tier is None
    assert desired.labels_present == {"unknown-customer"}
    assert desired.labels_absent == frozenset()
    # a case naming no organisation: its reporter matched no customer, and the comment says so
    assert ids(desired) == ["SUP-1/unknown-customer" + ("" if organization else "/no-organization")]
    assert not desired.comments[0].public
    assert ("help@umbrella.example" in desired.comments[0].body) is (organization is None)
    assert desired.quota is None
    assert desired.authorised_contact is None
    assert desired.entitlement_problems == ()
    assert desired.missing_information == ()
    assert desired.priority is None and desired.priority_jira is None
    assert desired.sla_state == "none"
    assert desired.response_due is None
    assert desired.escalation_steps == ()
    assert desired.assignee is None
    assert desired.transitions == ()
    assert desired.next_wakeup is None


def test_unknown_customer_comment_names_the_organisation():
    case = snapshot(organization="Umbrella Labs", reporter=customer_user("help@umbrella.example"))
    assert run(case).comments[0].body == "SUP-1: Umbrella Labs has no support agreement on file."


def test_known_customer_has_unknown_customer_label_absent():
    assert "unknown-customer" in run(snapshot()).labels_absent


# ------------------------------------------------------------------- resolved cases


def test_resolved_case_gets_fields_and_nothing_else():
    case = snapshot(
        "SUP-9",
        reporter=INTERN,  # unauthorised
        request_type="Screen share session",  # not entitled
        extra_fields={"impact": None, "environment": "Staging"},  # missing info, P4 rule
        priority="Blocker",
        organization="Acme Networks",
        status_history=[("2026-11-30T09:30:00+10:00", "Resolved")],
        resolution="Done",
    )
    # flagged cases count here (quota.not_counted_flags: []), so the case has a quota place
    counted = replace(RULES, quota=replace(RULES.quota, not_counted_flags=frozenset()))
    desired = run(case, context(acme_month()), counted, now=at("2026-12-02T10:00:00+10:00"))
    # fields: tier, quota, SLA state and due
    assert desired.tier == "Standard"
    assert desired.quota is not None and desired.quota.over
    assert desired.sla_state == "met"
    assert desired.response_due is not None
    assert desired.first_response == at("2026-11-30T09:30:00+10:00")
    # nothing else
    assert desired.comments == ()
    assert desired.labels_present == frozenset()
    assert desired.labels_absent == frozenset()
    assert desired.transitions == ()
    assert desired.assignee is None
    assert desired.priority is None and desired.priority_jira is None
    assert desired.escalation_steps == ()
    assert desired.next_wakeup is None


def test_resolved_enterprise_case_is_not_assigned():
    case = snapshot(
        organization="Globex Telecom",
        created="2026-11-30T09:00:00-05:00",
        status_history=[("2026-11-30T10:00:00-05:00", "Resolved")],
    )
    assert run(case, now=at("2026-12-01T10:00:00-05:00")).assignee is None


@pytest.mark.parametrize("explain", [False, True])
@pytest.mark.parametrize(
    "case",
    [
        snapshot(),  # known, open
        snapshot(status_history=[("2026-11-30T09:30:00+10:00", "Resolved")], resolution="Done"),
        snapshot(organization="Initech"),  # unknown customer
        snapshot(organization=None),
    ],
    ids=["open", "resolved", "unknown", "no-organisation"],
)
def test_every_path_builds_a_complete_desired(case: IssueSnapshot, explain: bool) -> None:
    """Evaluation fills Desired without its constructor: each path must name every field."""
    desired = evaluate(case, RULES, dataclasses.replace(context(), explain=explain), NOW)
    assert set(vars(desired)) == {f.name for f in dataclasses.fields(Desired)}
    assert desired == Desired(**vars(desired))


def test_organisation_names_match_customers_exactly_then_case_insensitively() -> None:
    rules = RULES
    assert rules.customer("Acme Networks") is rules.customers["Acme Networks"]
    assert rules.customer("ACME networks") is rules.customers["Acme Networks"]
    assert rules.customer("Acme") is None
    assert rules.customer(None) is None
    # two entries whose names fold alike: the exact name first, else the first listed
    first, second = (
        dataclasses.replace(rules.customers["Acme Networks"], organization=name)
        for name in ("ACME Networks", "acme networks")
    )
    twins = dataclasses.replace(rules, customers={"ACME Networks": first, "acme networks": second})
    assert twins.customer("acme networks") is second
    assert twins.customer("Acme Networks") is first
    # the compiled rules find an organisation's entry by the same rule
    compiled = Policy.compile(twins)
    assert compiled.customer("acme networks").customer is second
    assert compiled.customer("Acme Networks").customer is first
    assert compiled.customer("ACME networks").customer is first
    assert compiled.customer("Acme") is None


def test_a_named_organisation_is_decided_alike_each_time_and_a_bad_entry_fails_each_time():
    """The compiled rules keep the decision by the organisation's name (cases of one
    organisation share it); a customer entry that cannot be used is not kept: every case
    naming it fails with why."""

    broken = replace(RULES.customers["Acme Networks"], tier="platinum")
    rules = replace(RULES, customers={**RULES.customers, "Acme Networks": broken})
    policy = Policy.compile(rules)
    for _ in range(2):
        with pytest.raises(ValueError, match="names tier 'platinum'"):
            policy.decide_customer(snapshot(organization="Acme Networks"))
    first = policy.decide_customer(snapshot(organization="globex TELECOM"))
    assert first.basis == "organization" and first.facts is not None
    assert first.facts.customer.organization == "Globex Telecom"  # found case-insensitively
    assert policy.decide_customer(snapshot("SUP-2", organization="globex TELECOM")) == first
    unknown = policy.decide_customer(snapshot(organization="Initech"))
    assert (unknown.facts, unknown.basis) == (None, "unknown_organization")
