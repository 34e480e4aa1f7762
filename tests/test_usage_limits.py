"""Why a usage limit refuses a request, as the customer reads it in ``{why}``."""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfo

import pytest
from policy_factories import GLOBEX, at

from bridge.policy.model import MonthCase, Raised, UsageLimit
from bridge.policy.tiers import usage_refusals

NYC = ZoneInfo("America/New_York")
CUSTOMER = dataclasses.replace(GLOBEX, products=("NMIS", "opCharts"))
NEEDS = {"product webinar": ("product_webinar",)}


def webinar(number: int, product: str | None) -> MonthCase:
    raised = Raised(("noc@globex.example",), False, "Product webinar", product)
    return MonthCase(f"SUP-{number}", at(f"2026-11-{number:02d}T10:00:00-05:00"), None, raised)


def refusals(times: int, *cases: MonthCase) -> dict[str, str]:
    limits = {"product_webinar": UsageLimit(times, per_product=True)}
    return usage_refusals(cases, limits, NEEDS, CUSTOMER, NYC, frozenset())


@pytest.mark.parametrize(("times", "said"), [(1, "once"), (2, "twice"), (3, "3 times")])
def test_the_years_uses_spent_are_counted_in_words_and_another_can_be_arranged(
    times: int, said: str
) -> None:
    cases = [webinar(n, "NMIS") for n in range(1, times + 2)]
    used = ", ".join(c.key for c in cases[:-1])
    assert refusals(times, *cases) == {
        cases[-1].key: f"the product webinar for NMIS is included {said} per contract year "
        f"(from 2026-01-01), used by {used}. Your account manager can arrange another"
    }


def test_a_product_never_bought_can_be_arranged_and_a_case_naming_none_is_asked_to() -> None:
    assert refusals(1, webinar(1, "Open-AudIT"), webinar(2, None)) == {
        "SUP-1": "Open-AudIT is not a product Globex Telecom bought (NMIS, opCharts). "
        "Your account manager can arrange one",
        "SUP-2": "the case names no product, and the product webinar is for the products "
        "Globex Telecom bought (NMIS, opCharts). Please name one of them",
    }
