"""Sandbox restore points: `Store.snapshot` and `Store.restore`, whole site or some issues."""

from __future__ import annotations

import json
from typing import Any

from conftest import SANDBOX_NOW

from bridge.sandbox import seed as seeds
from bridge.sandbox.store import Store


def issues_json(store: Store) -> str:
    return json.dumps(store.to_json()["issues"], sort_keys=True, default=str)


def change_everything(store: Store, key: str) -> None:
    """A comment, a field edit, a property and a new issue, as the sandbox's users make them."""
    agent = store.user_by_email("sam.agent@vendor.example")
    assert agent is not None
    issue = store.issue(key)
    store.add_comment(issue, agent, "looking into it")
    store.apply_changes(issue, agent, {"labels": ["touched"]})
    store.set_property(issue.properties, "jsm-bridge", {"done": {"x": "y"}})
    store.create_issue(agent, {"summary": "a new case"})


def test_restoring_the_whole_site_undoes_every_change_and_new_issue() -> None:
    store = seeds.build("demo", now=SANDBOX_NOW, frozen=True)
    before = issues_json(store)
    snap = store.snapshot()
    count, version = len(store.issues), store.version
    change_everything(store, "SUP-4")
    comment_id = store.issue("SUP-4").comments[-1].id
    assert issues_json(store) != before
    store.restore(snap)
    assert issues_json(store) == before
    assert len(store.issues) == count
    assert store.find_comment(comment_id) is None
    assert store.version > version  # caches keyed on the version see a change
    # the counters are back too: the next issue gets the number the new one had
    agent = store.user_by_email("sam.agent@vendor.example")
    assert agent is not None
    assert store.create_issue(agent, {"summary": "again"}).key == f"SUP-{count + 1}"


def test_a_snapshot_is_not_changed_by_later_edits_nor_by_being_restored() -> None:
    store = seeds.build("demo", now=SANDBOX_NOW, frozen=True)
    snap = store.snapshot()
    before = issues_json(store)
    for _ in range(2):
        change_everything(store, "SUP-4")
        store.restore(snap)
        assert issues_json(store) == before


def test_restoring_some_issues_leaves_the_others_and_keeps_ids_unique() -> None:
    store = seeds.build("demo", now=SANDBOX_NOW, frozen=True)
    snap = store.snapshot()
    original: dict[str, Any] = json.loads(issues_json(store))
    change_everything(store, "SUP-4")
    change_everything(store, "SUP-5")
    old_comment = store.issue("SUP-4").comments[-1].id
    store.restore(snap, keys=["SUP-4", "SUP-99"])  # SUP-99 is new: not in the snapshot
    now: dict[str, Any] = json.loads(issues_json(store))
    by_key = {i["key"]: i for i in now}
    assert by_key["SUP-4"] == next(i for i in original if i["key"] == "SUP-4")
    assert "touched" in store.issue("SUP-5").values["labels"]  # not restored
    assert "SUP-99" not in by_key and "SUP-42" in by_key
    assert store.find_comment(old_comment) is None
    agent = store.user_by_email("sam.agent@vendor.example")
    assert agent is not None
    fresh = store.add_comment(store.issue("SUP-4"), agent, "after the restore")
    assert store.find_comment(fresh.id) == (store.issue("SUP-4"), fresh)
    assert int(fresh.id) > int(old_comment)  # counters not rewound by a partial restore
