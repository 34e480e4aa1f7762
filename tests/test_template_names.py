"""Names from people (display names, organisations) go into comments as plain text:
markup cannot make a link or a macro, and bidi controls cannot reverse what follows."""

from __future__ import annotations

import pytest
from policy_factories import context, customer_user, default_ruleset, evaluate, snapshot

from bridge.policy.templates import neutralise

NOW = "2026-11-30T10:00:00+10:00"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme Intern", "Acme Intern"),
        (
            "[Pay your invoice|https://evil.example/pay]",
            "Pay your invoice https://evil.example/pay",
        ),
        ("{color:red}URGENT{color}", "color:red URGENT color"),
        ("!https://evil.example/track.png!", "https://evil.example/track.png"),
        ("[~admin] *boss*", "admin boss"),
        ("Bob \u202eFDP.exe", "Bob FDP.exe"),
        ("\u2067Mallory\u2069 \u200fadmin", "Mallory admin"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("two\nlines\r\nhere", "two lines here"),
        ("Zoë Ångström", "Zoë Ångström"),
        ("محمد", "محمد"),  # right-to-left letters stay; only the invisible controls go
    ],
)
def test_neutralise(name: str, expected: str) -> None:
    assert neutralise(name) == expected


def test_a_hostile_display_name_reaches_the_comment_as_plain_text() -> None:
    from policy_factories import at

    hostile = customer_user("intern@acme.example", "[Reset password|https://evil.example] \u202eOK")
    desired = evaluate(snapshot(reporter=hostile), default_ruleset(), context(), at(NOW))
    (flag,) = [c for c in desired.comments if c.action_id == "SUP-1/unauthorised-contact"]
    assert "[" not in flag.body and "|" not in flag.body and "\u202e" not in flag.body
    assert "Reset password https://evil.example OK <intern@acme.example>" in flag.body
