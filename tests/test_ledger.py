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


def test_pruning_drops_the_oldest_entries_and_stays_under_the_limit() -> None:
    ledger = Ledger()
    for i in range(2000):  # ~100 KB unpruned
        ledger = ledger.with_done(
            f"SUP-1234:escalation-step-{i:04d}:2026-11-27T09:00", T0 + timedelta(minutes=i)
        )
    text = ledger.to_json()
    assert len(text.encode()) <= MAX_BYTES
    kept = Ledger.from_json(text)
    assert kept.handled("SUP-1234:escalation-step-1999:2026-11-27T09:00")  # newest kept
    assert not kept.handled("SUP-1234:escalation-step-0000:2026-11-27T09:00")  # oldest gone
    # everything kept is newer than everything dropped
    kept_nums = sorted(int(k.split(":")[1].rsplit("-", 1)[1]) for k in kept.done)
    assert kept_nums == list(range(kept_nums[0], 2000))


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
