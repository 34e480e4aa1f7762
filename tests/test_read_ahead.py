"""Reads sent ahead (`bridge.sync.ahead.read_ahead`): in flight side by side, handed
back in order, bounded, and a failed read told with its own item."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import closing

import pytest

from bridge.sync.ahead import read_ahead, readers


def _answers(workers: int, read_of: Callable[[int], Callable[[], str] | None], n: int) -> list:
    with readers(workers) as pool, closing(read_ahead(range(n), read_of, pool)) as cases:
        return [(item, None if read is None else read.result()) for item, read in cases]


@pytest.mark.parametrize("workers", [1, 3])
def test_each_item_comes_back_in_order_with_its_own_read(workers: int) -> None:
    def read_of(item: int) -> Callable[[], str] | None:
        return None if item % 3 == 0 else (lambda: f"read {item}")

    got = _answers(workers, read_of, 10)
    assert got == [(i, None if i % 3 == 0 else f"read {i}") for i in range(10)]


def test_reads_are_in_flight_side_by_side_and_a_late_first_read_keeps_its_place() -> None:
    # the three reads meet at a barrier: made one after another, the first would wait
    # alone and the barrier would break; the first finishes last, yet comes back first
    meet = threading.Barrier(3, timeout=10)
    last = threading.Event()
    finished: list[int] = []

    def read_of(item: int) -> Callable[[], str]:
        def read() -> str:
            meet.wait()
            if item == 0:
                assert last.wait(timeout=10), "the other two reads never finished"
            else:
                finished.append(item)
                if len(finished) == 2:
                    last.set()
            return f"read {item}"

        return read

    assert _answers(3, read_of, 3) == [(0, "read 0"), (1, "read 1"), (2, "read 2")]


def test_at_most_twice_the_workers_are_taken_ahead_of_the_one_handed_back() -> None:
    taken: list[int] = []
    release = threading.Event()

    def items() -> Iterator[int]:
        for i in range(50):
            taken.append(i)
            yield i

    def read_of(item: int) -> Callable[[], int]:
        def read() -> int:
            if item == 0:
                release.wait(timeout=10)
            return item

        return read

    with readers(2) as pool, closing(read_ahead(items(), read_of, pool)) as cases:
        first, read = next(cases)
        # the first read is still running: four more were taken, not the fifty
        assert (first, len(taken)) == (0, 5)
        release.set()
        assert read is not None and read.result() == 0
        assert [item for item, _ in cases] == list(range(1, 50))


def test_a_failed_read_is_told_with_its_own_item_and_the_others_still_come_back() -> None:
    def read_of(item: int) -> Callable[[], str]:
        def read() -> str:
            if item == 2:
                raise LookupError("no such issue")
            return f"read {item}"

        return read

    with readers(2) as pool, closing(read_ahead(range(5), read_of, pool)) as cases:
        results = []
        for item, read in cases:
            assert read is not None
            try:
                results.append(read.result())
            except LookupError as exc:
                results.append(f"{item}: {exc}")
    assert results == ["read 0", "read 1", "2: no such issue", "read 3", "read 4"]


def test_one_worker_reads_on_the_calling_thread_as_each_item_is_taken() -> None:
    threads: list[int] = []

    def read_of(item: int) -> Callable[[], int]:
        return lambda: threads.append(threading.get_ident()) or item

    assert _answers(1, read_of, 3) == [(0, 0), (1, 1), (2, 2)]
    assert set(threads) == {threading.get_ident()}


def test_closing_early_takes_and_reads_nothing_further() -> None:
    started: list[int] = []

    def read_of(item: int) -> Callable[[], int]:
        return lambda: started.append(item) or item

    with readers(2) as pool, closing(read_ahead(range(100), read_of, pool)) as cases:
        next(cases)
    # the one handed back and at most four taken ahead of it were read, not the hundred
    assert len(started) <= 5
