"""The request pacer: per-endpoint buckets, the per-issue write window, the pool-wide pause.
A fake clock that only moves when the pacer sleeps: nothing here waits."""

from __future__ import annotations

from bridge.jira.rate import RateLimiter, endpoint


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(t: FakeTime, **kw: object) -> RateLimiter:
    return RateLimiter(clock=t.clock, sleep=t.sleep, **kw)  # type: ignore[arg-type]


def test_paths_fold_to_one_endpoint_per_resource() -> None:
    assert endpoint("post", "rest/api/2/issue/SUP-1/comment") == (
        "POST /rest/api/2/issue/{key}/comment",
        "SUP-1",
    )
    assert (
        endpoint("PUT", "/rest/api/2/issue/SUP-22")[0] == endpoint("PUT", "rest/api/2/issue/7")[0]
    )
    assert endpoint("GET", "rest/api/2/comment/10001/properties/x")[0] == (
        "GET /rest/api/2/comment/{id}/properties/x"
    )
    assert endpoint("POST", "rest/api/3/search/jql") == ("POST /rest/api/3/search/jql", None)


def test_an_endpoint_is_held_to_its_rate_after_a_short_burst() -> None:
    t = FakeTime()
    pace = limiter(t, rates={"PUT": 40.0})
    for n in range(100):
        pace.acquire("PUT", f"rest/api/2/issue/SUP-{n}", write=True)
    # a burst of half a second's worth (20), then one every 1/40 s
    assert abs((t.now - 1000.0) - 80 / 40) < 1e-6
    # another endpoint has its own bucket: no wait
    before = t.now
    pace.acquire("GET", "rest/api/2/myself", write=False)
    assert t.now == before


def test_one_issue_gets_at_most_its_writes_per_window() -> None:
    t = FakeTime()
    pace = limiter(t, rates={}, issue_writes=18, issue_window=2.0)
    for _ in range(18):
        pace.acquire("POST", "rest/api/2/issue/SUP-1/comment", write=True)
    assert t.slept == []
    pace.acquire("POST", "rest/api/2/issue/SUP-2/comment", write=True)  # another issue: free
    pace.acquire("GET", "rest/api/2/issue/SUP-1/comment", write=False)  # a read: free
    assert t.slept == []
    pace.acquire("PUT", "rest/api/2/issue/SUP-1", write=True)
    assert abs(t.now - 1002.0) < 1e-6  # the 19th write waited for the window


def test_a_429_pauses_every_worker_until_its_retry_after() -> None:
    t = FakeTime()
    pace = limiter(t)
    pace.pause(5.0)
    pace.acquire("GET", "rest/api/2/myself", write=False)
    assert abs(t.now - 1005.0) < 1e-6
    pace.pause(2.0)
    pace.pause(1.0)  # a shorter pause never cuts a longer one short
    pace.acquire("POST", "rest/api/3/search/jql", write=False)
    assert abs(t.now - 1007.0) < 1e-6 and pace.waited >= 7.0
