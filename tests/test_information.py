"""The information decision: what counts as an answer to each required item."""

from __future__ import annotations

import pytest
from policy_factories import FIELD_NAMES, snapshot

from bridge.policy.information import InformationCheck, bare
from bridge.policy.model import DEFAULT_PLACEHOLDERS, RequiredInformation, RequiredItem

ITEMS = (
    RequiredItem(("contact_phone", "contact_skype"), min_length=6),
    RequiredItem(("description",), min_length=15),
    RequiredItem(("product_version",), pattern=r"\d"),
    RequiredItem(("impact",), accept=("none",)),
)
CHECK = InformationCheck.of(RequiredInformation((), None, None, ITEMS, DEFAULT_PLACEHOLDERS))
GOOD = {
    "contact_phone": "+61 7 3000 0000",
    "contact_skype": None,
    "description": "The poller stopped collecting after the upgrade.",
    "product_version": "9.5.1",
    "impact": "Operators are blind to outages.",
}


def missing(**changes: str | None) -> tuple[str, ...]:
    case = snapshot(fields={**GOOD, **changes})
    return CHECK.decide(case, FIELD_NAMES).missing


@pytest.mark.parametrize(
    ("changes", "lacking"),
    [
        ({}, ()),
        # placeholders, whatever their case and the punctuation around them
        ({"product_version": "Version"}, ("product_version",)),
        ({"product_version": " N/A. "}, ("product_version",)),
        ({"description": "???"}, ("description",)),
        ({"description": "asdf"}, ("description",)),
        # the field's own name typed as its answer
        ({"description": "Description"}, ("description",)),
        # min_length and pattern
        ({"description": "It is broken"}, ("description",)),
        ({"product_version": "latest and greatest"}, ("product_version",)),
        # "Impact (if any)": none is an answer, although a placeholder elsewhere
        ({"impact": "None"}, ()),
        ({"impact": "-"}, ("impact",)),
        # "phone number (or skype)": either field answers
        ({"contact_phone": None, "contact_skype": "live:acme.noc"}, ()),
        ({"contact_phone": "?", "contact_skype": "n/a"}, ("contact_phone or contact_skype",)),
    ],
)
def test_what_counts_as_an_answer(changes: dict[str, str | None], lacking: tuple[str, ...]) -> None:
    assert missing(**changes) == lacking


def test_the_customer_sees_the_sites_field_names_and_explain_sees_why() -> None:
    case = snapshot(fields={**GOOD, "contact_phone": "?", "product_version": "Version"})
    decided = CHECK.decide(case, FIELD_NAMES)
    assert decided.missing_names == "Contact phone or Skype, Product version"
    assert [m.why for m in decided.why] == [
        "Contact phone '?' is a placeholder, not an answer; Skype is empty",
        "Product version 'Version' is a placeholder, not an answer",
    ]


def test_bare_strips_case_spaces_and_punctuation() -> None:
    assert bare("  N/A. ") == "n/a"
    assert bare("--") == ""


def test_explain_is_told_how_an_item_was_answered_when_not_by_its_first_field_as_typed() -> None:
    case = snapshot(fields={**GOOD, "contact_phone": None, "contact_skype": "live:acme.noc"})
    assert CHECK.decide(case, FIELD_NAMES).answered == (
        "Contact phone or Skype: answered by Skype ('live:acme.noc')",
    )
    case = snapshot(fields={**GOOD, "impact": "None."})
    assert CHECK.decide(case, FIELD_NAMES).answered == ("Impact: 'None.' is an accepted answer",)
    assert CHECK.decide(snapshot(fields=GOOD), FIELD_NAMES).answered == ()


def test_a_select_lists_chosen_option_is_an_answer_even_when_placeholders_list_it() -> None:
    """A "Test" picked from the Environment dropdown is an environment: a select list's
    options are the site's, not something the customer typed to get past the form.
    A text field with the same answer is still a placeholder."""
    check = InformationCheck.of(
        RequiredInformation((), None, None, (RequiredItem(("environment",)),), ("test", "x"))
    )
    case = snapshot(fields={"environment": "Test"})
    assert check.decide(case, FIELD_NAMES).missing == ("environment",)
    assert check.decide(case, FIELD_NAMES, frozenset({"environment"})).missing == ()
    # the field's own name is an option like any other once the field is a select list
    named = snapshot(fields={"environment": "Environment type"})
    assert check.decide(named, FIELD_NAMES, frozenset({"environment"})).missing == ()
    # an empty select list is still missing
    empty = snapshot(fields={"environment": None})
    assert check.decide(empty, FIELD_NAMES, frozenset({"environment"})).missing == ("environment",)
