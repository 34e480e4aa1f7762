"""The write pool: a stop finishes the cases in flight, leaves the journal with nothing
open, and the next cycle ends where one case at a time would have."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from conftest import SandboxFactory
from e2e_helpers import BridgeFactory, snapshot_all

import bridge.sync.cycle as cycle_module
from bridge.jira.port import SearchPage


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


def test_data_center_reads_ahead_side_by_side_and_ends_as_one_at_a_time(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data Center's per-issue reads (ledgers; comments' properties, request participants)
    go out ahead on as many readers as write workers: the first two of each kind meet at
    a barrier, so made one after another the first would wait alone and the barrier
    break, failing its case.  The site ends as one case at a time leaves it."""
    alone_site = sandbox_factory(seed="demo", flavour="datacenter")
    bridges(alone_site, workers=1).cycle()
    one_at_a_time = _said(snapshot_all(alone_site))

    site = sandbox_factory(seed="demo", flavour="datacenter")
    pooled = bridges(site, workers=4)
    port = pooled.engine.port
    met: Counter[str] = Counter()
    lock = threading.Lock()

    def meeting(name: str) -> Callable[..., object]:
        read, meet = getattr(port, name), threading.Barrier(2, timeout=10)

        def read_meeting(*args: object) -> object:
            with lock:
                met[name] += 1
                nth = met[name]
                met["in flight"] += 1
                met["most in flight"] = max(met["most in flight"], met["in flight"])
            try:
                if nth <= 2:
                    meet.wait()  # the first two reads of a kind are in flight at once
                return read(*args)
            finally:
                with lock:
                    met["in flight"] -= 1

        return read_meeting

    for name in ("get_property", "comments"):
        monkeypatch.setattr(port, name, meeting(name))

    run = pooled.cycle()
    assert run.report.ok, run.report.counts()
    assert met["get_property"] > 2 and met["comments"] >= 2  # both steps read ahead
    assert met["most in flight"] <= 4  # the two steps share the pool's four readers
    assert _said(snapshot_all(site)) == one_at_a_time
    assert pooled.cycle().writes == 0


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_case_the_search_lists_twice_is_taken_up_once(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    monkeypatch: pytest.MonkeyPatch,
    flavour: str,
) -> None:
    """Search pages can shift under a cycle (a case created between two pages), so one
    case may be listed twice.  Planned twice from one ledger, its comments would be
    posted twice; it is taken up once, and the site ends as a search listing each once
    leaves it."""
    alone_site = sandbox_factory(seed="demo", flavour=flavour)
    bridges(alone_site, workers=1).cycle()
    once = _said(snapshot_all(alone_site))

    site = sandbox_factory(seed="demo", flavour=flavour)
    pooled = bridges(site, workers=4)
    listed = cycle_module.first_pages

    def listing_each_twice(*args: Any, **kwargs: Any) -> SearchPage:
        page = listed(*args, **kwargs)
        return SearchPage([issue for issue in page.issues for _ in (1, 2)], page.last)

    monkeypatch.setattr(cycle_module, "first_pages", listing_each_twice)
    run = pooled.cycle()
    assert len(run.report.outcomes) == len(once)  # each case once
    assert _said(snapshot_all(site)) == once
