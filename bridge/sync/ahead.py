"""Reads sent ahead: per-issue reads in flight on a few workers, while the cases are
still taken up one by one, in order, on the cycle's own thread.

Data Center's search leaves out what the bridge must then read issue by issue: the
ledger, the comments' properties, the request participants (see `bridge.sync.poll`
and `bridge.sync.cycle`).  Made one at a time, at a few hundred milliseconds a round
trip, those reads were most of a first cycle's wall time.  `read_ahead` sends each
case's read as soon as the case is taken and hands the cases back in the order they
came, each with its read.  Deciding what to read and keeping what was read stay with
the caller, on its thread: the local state's SQLite connection belongs to it.

A cycle reads in two steps (the search results completed, then each case's ledger
once its plan says it needs one); both send their reads to one pool of readers
(`readers`), so at most that many reads are in flight whatever the steps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: A read to make for one case (run on a reader): what Jira answered
Read = Callable[[], R]


@dataclass(frozen=True)
class Readers:
    """A pool of reader threads, shared by a cycle's reading steps, and its size."""

    pool: Executor
    workers: int


@contextmanager
def readers(workers: int) -> Iterator[Readers | None]:
    """``workers`` reader threads for `read_ahead` (None for 1: each read is made on the
    calling thread); reads not begun are cancelled when it closes."""
    if workers <= 1:
        yield None
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jsm-bridge-read")
    try:
        yield Readers(pool, workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def read_ahead(
    items: Iterable[T],
    read_of: Callable[[T], Read[R] | None],
    readers: Readers | None,
) -> Generator[tuple[T, Future[R] | None], None, None]:
    """Each of ``items``, in order, with its read as a future (None: ``read_of`` asked
    for none); the caller takes the read's answer, or its exception, with ``result()``.

    ``read_of(item)`` runs on the calling thread as the item is taken; the read it
    returns runs on one of ``readers``, or on the calling thread at once without them.
    At most twice as many items as there are readers are taken ahead of the one handed
    back; an item whose read is done (or that has none) is handed back at once.  Closing the generator
    (use ``contextlib.closing``) cancels its reads not begun.
    """
    if readers is None:
        for item in items:
            read = read_of(item)
            yield item, None if read is None else _made(read)
        return
    taken: deque[tuple[T, Future[R] | None]] = deque()
    try:
        for item in items:
            read = read_of(item)
            taken.append((item, None if read is None else readers.pool.submit(read)))
            while taken and (len(taken) > 2 * readers.workers or _ready(taken[0][1])):
                yield taken.popleft()
        while taken:
            yield taken.popleft()
    finally:
        for _, future in taken:
            if future is not None:
                future.cancel()


def _ready(future: Future[R] | None) -> bool:
    return future is None or future.done()


def _made(read: Read[R]) -> Future[R]:
    """``read`` made now, on this thread, as a finished future."""
    future: Future[R] = Future()
    try:
        future.set_result(read())
    except Exception as exc:
        future.set_exception(exc)
    return future
