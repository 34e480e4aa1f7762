from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bridge.sync.ledger import (
    MAX_BYTES,
    Ledger,
    comment_action_id,
    comment_marker,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_absent_property_is_an_empty_ledger_that_needs_no_write() -> None:
    ledger = Ledger.from_json(None)
    assert len(ledger) == 0 and not ledger.needs_repair


def test_round_trip_through_json_text_and_dict() -> None:
    ledger = Ledger().with_done("SUP-1:step0:x", T0).with_skipped("SUP-1:t", T0)
    again = Ledger.from_json(ledger.to_json())
    assert again == ledger and not again.needs_repair
    assert Ledger.from_json(ledger.to_dict()) == ledger
    assert again.handled("SUP-1:step0:x") and again.handled("SUP-1:t")
    assert not again.handled("SUP-1:other")


def test_done_supersedes_skipped_and_keeps_the_first_time() -> None:
    ledger = Ledger().with_skipped("a", T0).with_done("a", T0 + timedelta(hours=1))
    assert "a" in ledger.done and "a" not in ledger.skipped
    assert ledger.with_done("a", T0 + timedelta(days=1)).done["a"] == ledger.done["a"]
    assert ledger.with_skipped("a", T0) is ledger


def test_damaged_values_keep_what_is_readable_and_ask_for_repair() -> None:
    assert Ledger.from_json("{not json").needs_repair
    assert Ledger.from_json([1, 2]).needs_repair
    old = Ledger.from_json({"done": {"a": "2026-11-27T00:00:00+00:00"}})  # no version
    assert old.needs_repair and old.handled("a")
    mixed = Ledger.from_json({"version": 1, "done": {"a": "2026-11-27T00:00:00+00:00", "b": 7}})
    assert mixed.needs_repair and mixed.handled("a") and not mixed.handled("b")


def test_an_announced_comment_is_not_done_until_something_says_so() -> None:
    told = "SUP-1/priority/p1-needs-customer-staff-available"
    ledger = Ledger().with_done("SUP-1/needs-info", T0).with_telling([told, "SUP-1/needs-info"], T0)
    stored = Ledger.from_json(ledger.to_json())
    assert stored.telling == {told: T0.isoformat()}  # a done id is never announced
    assert not stored.handled(told) and stored.unsettled == (told,)
    assert not stored.needs_repair
    recorded = stored.with_done(told, T0 + timedelta(minutes=1))
    assert recorded.unsettled == () and "telling" not in recorded.to_dict()
    assert Ledger.from_json({"version": 1, "done": {}, "telling": {told: 7}}).needs_repair


def _step(i: int) -> str:
    return f"SUP-1234:escalation-step-{i:04d}:2026-11-27T09:00"


def test_a_ledger_over_the_cap_is_compacted_and_still_knows_every_entry() -> None:
    ledger = Ledger()
    for i in range(2000):  # ~100 KB written out in full
        ledger = ledger.with_done(_step(i), T0 + timedelta(minutes=i))
    text = ledger.to_json()
    assert len(text.encode()) <= MAX_BYTES
    kept = Ledger.from_json(text)
    assert not kept.needs_repair and kept.complete
    assert all(kept.handled(_step(i)) for i in range(2000))  # nothing lost
    assert not kept.handled(_step(2000))
    # the newest keep their times; only the oldest are compacted
    kept_nums = sorted(int(k.split(":")[1].rsplit("-", 1)[1]) for k in kept.done)
    assert kept_nums == list(range(kept_nums[0], 2000)) and kept_nums[0] > 0
    # compacting again (the next cycle's write) changes nothing
    assert Ledger.from_json(text).with_done(_step(5), T0).to_json() == text


def test_compacting_keeps_the_text_of_priority_change_ids_to_the_last() -> None:
    """The planner reads a priority comment's id (the rule's name then, the change's
    number) so as not to tell a change again after its rule is renamed: compaction takes
    every other entry first, however old the change, and the ledger still fits."""
    changes = ["SUP-1234/priority/non-production-systems-are-p4", "SUP-1234/priority/levels/2"]
    ledger = Ledger().with_done(changes[0], T0 - timedelta(days=90))
    ledger = ledger.with_skipped("SUP-1234/esc/old", T0 - timedelta(days=89))
    ledger = ledger.with_done(changes[1], T0 - timedelta(days=60))
    for i in range(2000):
        ledger = ledger.with_done(_step(i), T0 + timedelta(minutes=i))
    text = ledger.to_json()
    assert len(text.encode()) <= MAX_BYTES
    kept = Ledger.from_json(text)
    assert set(changes) <= set(kept.done) and kept.compact and kept.complete
    assert kept.handled("SUP-1234/esc/old") and "SUP-1234/esc/old" not in kept.skipped
    assert all(kept.handled(_step(i)) for i in range(2000))
    # a ledger of nothing but priority changes still keeps within the cap
    only = Ledger()
    for i in range(1000):
        only = only.with_done(f"SUP-1/priority/levels/{i + 2}", T0 + timedelta(minutes=i))
    assert len(only.to_json().encode()) <= MAX_BYTES
    assert Ledger.from_json(only.to_json()).handled("SUP-1/priority/levels/2")


def test_a_ledger_past_even_the_compact_form_counts_what_it_dropped() -> None:
    ledger = Ledger()
    for i in range(4000):  # more digests than fit in 30 KB
        ledger = ledger.with_done(_step(i), T0 + timedelta(minutes=i))
    text = ledger.to_json()
    assert len(text.encode()) <= MAX_BYTES
    kept = Ledger.from_json(text)
    assert not kept.complete and kept.dropped > 0
    assert kept.handled(_step(3999))
    assert sum(kept.handled(_step(i)) for i in range(4000)) == 4000 - kept.dropped
    assert not kept.handled(_step(0))  # the oldest went, and the ledger says so


def test_a_damaged_compact_part_is_repaired_not_trusted() -> None:
    broken = Ledger.from_json({"version": 1, "done": {}, "compact": "not base64!"})
    assert broken.needs_repair and len(broken) == 0
    bad_count = Ledger.from_json({"version": 1, "done": {}, "dropped": -3})
    assert bad_count.needs_repair and bad_count.complete


def test_small_ledger_is_not_pruned() -> None:
    ledger = Ledger().with_done("a", T0).with_done("b", T0)
    assert set(json.loads(ledger.to_json())["done"]) == {"a", "b"}


def test_comment_marker_round_trips_in_jira_shapes() -> None:
    marker = comment_marker("SUP-1:needs-info")
    as_list = {"properties": [{"key": k, "value": v} for k, v in marker.items()]}
    assert comment_action_id(as_list) == "SUP-1:needs-info"
    assert comment_action_id({"properties": marker}) == "SUP-1:needs-info"
    as_text = {"properties": [{"key": "jsm-bridge", "value": json.dumps(marker["jsm-bridge"])}]}
    assert comment_action_id(as_text) == "SUP-1:needs-info"
    assert comment_action_id({"properties": [{"key": "sd.public.comment", "value": {}}]}) is None
    assert comment_action_id({}) is None
