"""Organisation names that differ only in letter case are one organisation everywhere:
a full cycle, an incremental cycle ranking from the local state, and `explain`."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from conftest import SandboxFactory
from e2e_helpers import BridgeFactory, comment, end_state, new_case

BNE = ZoneInfo("Australia/Brisbane")
SAM = "sam.agent@vendor.example"


def t(hour: int, minute: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BNE)


def test_organisations_differing_only_in_case_share_one_quota_on_every_path(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="empty", now=t(10))
    acme = sb.store.organization_by_name("Acme Networks")
    assert acme is not None
    shouting = sb.store.add_organization("ACME NETWORKS", acme.members)
    org_field = sb.store.field_by_name("Organizations")
    assert org_field is not None
    # six cases this month (the tier includes 4), every other one under the upper-case name
    keys = [
        new_case(sb, org="Acme Networks", created=t(9, day=day), request_type="Technical support")
        for day in (2, 3, 4, 5, 6, 9)
    ]
    for key in keys[1::2]:
        sb.store.issue(key).values[org_field.id] = [shouting.id]

    bridge = bridges(sb)
    assert bridge.cycle().report.full
    after_full = {k: end_state(sb, k).field("Cases this month") for k in keys}
    labels_full = {k: "over-quota" in end_state(sb, k).labels for k in keys}
    assert sum(labels_full.values()) == 2, (after_full, labels_full)  # 5th and 6th of 4

    # an engineer replies on every case: the incremental cycle reads them all again
    sb.set_now(t(10, 10))
    for key in keys:
        comment(sb, key, "Looking into it.", by=SAM)
    sb.set_now(t(10, 20))
    incremental = bridge.cycle()
    assert not incremental.report.full
    assert set(keys) <= incremental.keys_read
    assert {k: end_state(sb, k).field("Cases this month") for k in keys} == after_full
    assert {k: "over-quota" in end_state(sb, k).labels for k in keys} == labels_full

    # `explain` (a dry run of one case, ranking from a search) agrees: nothing to change
    for key in (keys[1], keys[4]):
        explained = bridge.cycle(only_key=key, dry_run=True)
        assert not explained.outcome(key).plan.actions, explained.outcome(key).actions
