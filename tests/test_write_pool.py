"""The write pool: a stop finishes the cases in flight, leaves the journal with nothing
open, and the next cycle ends where one case at a time would have."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import SandboxFactory
from e2e_helpers import BridgeFactory, snapshot_all


def _said(views: dict[str, object]) -> dict[str, object]:
    """What the bridge left on each case (not when)."""
    out: dict[str, object] = {}
    for key, view in views.items():
        v = view.__dict__
        comments = tuple((c.body, c.public, c.action_id) for c in v["comments"])
        out[key] = (
            v["status"],
            v["priority"],
            v["assignee"],
            v["labels"],
            dict(v["fields"]),
            comments,
        )
    return out


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_stop_with_the_pool_on_finishes_the_cases_in_flight_and_the_rerun_ends_as_one_at_a_time(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    alone_site = sandbox_factory(seed="demo", flavour=flavour)
    alone = bridges(alone_site, workers=1)
    alone.engine.bulk_transitions = False
    alone.cycle()
    one_at_a_time = _said(snapshot_all(alone_site))

    pooled_site = sandbox_factory(seed="demo", flavour=flavour)
    before = _said(snapshot_all(pooled_site))
    pooled = bridges(pooled_site, workers=4)
    asked = Counter[str]()

    def stop_after_a_dozen() -> bool:
        asked["n"] += 1
        return asked["n"] > 12

    pooled.engine.should_stop = stop_after_a_dozen
    stopped = pooled.cycle()
    assert not stopped.report.complete
    assert 0 < stopped.report.read < 40  # stopped part-way
    # every case begun, up to 4 of them in flight and as many waiting for a worker (on
    # Cloud, transitions waiting for a bulk request too), was written to the end: it is
    # where one case at a time leaves it; no case after the stop was touched
    begun = {o.key for o in stopped.report.outcomes}
    assert len(begun) == 12
    assert _said(snapshot_all(pooled_site)) == {
        key: (one_at_a_time if key in begun else before)[key] for key in before
    }
    # and recorded: nothing open in the journal
    assert pooled.engine.state.pending_intents() == []
    pooled.engine.should_stop = lambda: False
    assert pooled.cycle().report.complete
    assert pooled.cycle().writes == 0
    assert _said(snapshot_all(pooled_site)) == one_at_a_time
