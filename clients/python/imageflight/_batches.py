"""Streaming a plan's endpoints: parallel readers, a bounded number of batches in flight,
deterministic order (endpoint order, or a seeded shuffle of endpoints and rows).

How it works (:func:`iter_plan`): the endpoints are put in order (plan order, or shuffled
with the seed); a *window* of the next ``max_workers`` unfinished endpoints is read by one
thread each (:class:`~imageflight._stream.EndpointReader`: failover, resume, stall
watchdog). A reader takes a permit before it receives a batch and the consumer gives it
back when it asks for the next batch, so at most ``max_in_flight`` batches are held at any
time (received or being received, not yet consumed; the one last yielded counts until the
next is asked for). Readers block when no permit is left. One permit is always kept for the
endpoint the consumer is waiting on, so ordered reading never deadlocks.

Which endpoint the consumer takes the next batch from depends only on the data, never on
timing: the first of the window (``shuffle=False``: endpoint order, the order of
:func:`~imageflight.read_images`), or one drawn with the seeded generator among the
window (``shuffle=True``). With ``shuffle_buffer=N`` rows pass through a buffer of N rows
from which each output row is drawn at random (the classic shuffle buffer), so the order
of rows is a function of the seed and of the batches the server sent.
"""

from __future__ import annotations

import collections
import os
import random
import threading
import time
from typing import Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import pyarrow as pa

from ._errors import ImageFlightError, InvalidArgument
from ._options import _as_int
from ._plan import Endpoint, Plan
from ._stats import ReadStats, _Progress
from ._stream import DEFAULT_STALL_TIMEOUT, BatchCallback, EndpointReader

#: Default permits per reading thread: ``max_in_flight`` defaults to this times the
#: number of endpoints read at once.
IN_FLIGHT_PER_STREAM = 2


def default_max_workers(n_endpoints: int) -> int:
    """Endpoints read at once by default: ``min(#endpoints, max(4, 2 * cores))``."""
    return max(1, min(n_endpoints, max(4, 2 * (os.cpu_count() or 1))))


class _Feed:
    """One endpoint being read by its own thread into a queue."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self.queue: Deque[pa.RecordBatch] = collections.deque()
        self.done = False
        self.error: Optional[BaseException] = None
        self.thread: Optional[threading.Thread] = None


class _Flow:
    """Permits and the feeds' shared state, under one condition variable."""

    def __init__(self, max_in_flight: Optional[int], stats: ReadStats):
        self.cond = threading.Condition()
        self.max = max_in_flight
        self.held = 0
        self.wanted: Optional[_Feed] = None
        self.closed = False
        self.error: Optional[BaseException] = None
        self.stats = stats

    def may_take(self, feed: _Feed) -> bool:
        if self.max is None:
            return True
        if feed is self.wanted:
            return self.held < self.max
        return self.held < self.max - 1

    def acquire(self, feed: _Feed) -> bool:
        with self.cond:
            while not self.closed and not self.may_take(feed):
                self.cond.wait()
            if self.closed:
                return False
            self.held += 1
            self.stats._in_flight(self.held)
            return True

    def release(self) -> None:
        with self.cond:
            self.held -= 1
            self.cond.notify_all()


def _conform(batch: pa.RecordBatch, schema: pa.Schema, index: int) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    try:
        return batch.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as err:
        raise ImageFlightError(
            f"endpoint {index} sent schema {batch.schema}, plan announced {schema}"
        ) from err


def _produce(flow: _Flow, feed: _Feed, schema: pa.Schema, reader: EndpointReader,
             bar: _Progress) -> None:
    it = iter(reader)
    try:
        while True:
            if not flow.acquire(feed):
                return
            try:
                batch = _conform(next(it), schema, feed.endpoint.index)
            except StopIteration:
                flow.release()
                with flow.cond:
                    feed.done = True
                    flow.cond.notify_all()
                bar.split_done()
                return
            except BaseException as err:  # noqa: BLE001 - handed to the consumer
                flow.release()
                with flow.cond:
                    feed.error = err
                    feed.done = True
                    if flow.error is None:
                        flow.error = err
                    flow.cond.notify_all()
                return
            with flow.cond:
                feed.queue.append(batch)
                flow.cond.notify_all()
    finally:
        it.close()  # a stream abandoned mid-way is cancelled (EndpointReader._stream)


def iter_plan(
    plan: Plan,
    *,
    endpoints: Optional[Sequence[int]] = None,
    max_workers: Optional[int] = None,
    max_in_flight: Optional[int] = -1,
    shuffle: bool = False,
    shuffle_seed: Optional[int] = None,
    shuffle_buffer: int = 0,
    timeout: Optional[float] = None,
    stall_timeout: Optional[float] = DEFAULT_STALL_TIMEOUT,
    on_batch: Optional[BatchCallback] = None,
    stats: Optional[ReadStats] = None,
    progress: bool = False,
) -> Iterator[pa.RecordBatch]:
    """Yields the record batches of a plan's endpoints (all, or the indices in
    ``endpoints``), read in parallel with bounded memory; see :func:`imageflight.iter_batches`.

    ``max_in_flight``: -1 (default) is ``2 * max_workers``; ``None``: unbounded.
    """
    eps = list(plan.endpoints)
    if endpoints is not None:
        by_index = {ep.index: ep for ep in eps}
        try:
            eps = [by_index[int(i)] for i in endpoints]
        except KeyError as err:
            raise InvalidArgument(f"endpoints: the plan has no endpoint {err.args[0]}") from None
    window, max_in_flight, shuffle_buffer = _check(len(eps), max_workers, max_in_flight,
                                                   shuffle_buffer)
    if shuffle_seed is None and shuffle:
        shuffle_seed = random.SystemRandom().randrange(2**63)
    # The plan's file count is the progress total when every endpoint is read.
    total = plan.total_records if endpoints is None and plan.total_records >= 0 else None
    return _iterate(plan, eps, window, max_in_flight, bool(shuffle), shuffle_seed,
                    shuffle_buffer, timeout, stall_timeout, on_batch,
                    stats if stats is not None else ReadStats(), bool(progress), total)


def _check(n: int, max_workers, max_in_flight, shuffle_buffer) -> Tuple[int, Optional[int], int]:
    if max_workers is None:
        window = default_max_workers(n)
    else:
        window = _as_int("max_workers", max_workers)
        if window < 1:
            raise InvalidArgument(f"max_workers must be >= 1, got {window}")
        window = max(1, min(window, n))
    if max_in_flight is not None:
        max_in_flight = _as_int("max_in_flight", max_in_flight)
        if max_in_flight == -1:
            max_in_flight = IN_FLIGHT_PER_STREAM * window
        elif max_in_flight < 1:
            raise InvalidArgument(
                f"max_in_flight must be >= 1 (or -1: default, None: unbounded), got {max_in_flight}")
    shuffle_buffer = _as_int("shuffle_buffer", shuffle_buffer)
    if shuffle_buffer < 0:
        raise InvalidArgument(f"shuffle_buffer must be >= 0 rows, got {shuffle_buffer}")
    return window, max_in_flight, shuffle_buffer


def _iterate(plan: Plan, eps: List[Endpoint], window: int, max_in_flight: Optional[int],
             shuffle: bool, shuffle_seed: Optional[int], shuffle_buffer: int,
             timeout: Optional[float], stall_timeout: Optional[float],
             on_batch: Optional[BatchCallback], stats: ReadStats,
             progress: bool, total: Optional[int]) -> Iterator[pa.RecordBatch]:
    stats.endpoints += len(eps)
    bar = _Progress(len(eps), total, progress, stats)
    rng = random.Random(shuffle_seed)
    if shuffle:
        rng.shuffle(eps)
    batches = _stream_endpoints(plan, eps, window, max_in_flight, rng if shuffle else None,
                                timeout, stall_timeout, on_batch, stats, bar)
    if shuffle and shuffle_buffer > 0:
        batches = _shuffle_rows(batches, shuffle_buffer, rng)
    finished = False
    try:
        for b in batches:
            bar.consumed(b.num_rows)
            yield b
        finished = True
    finally:
        bar.close(finished)


def _stream_endpoints(plan: Plan, eps: List[Endpoint], window: int,
                      max_in_flight: Optional[int], rng: Optional[random.Random],
                      timeout: Optional[float], stall_timeout: Optional[float],
                      on_batch: Optional[BatchCallback], stats: ReadStats,
                      bar: _Progress) -> Iterator[pa.RecordBatch]:
    if not eps:
        return
    flow = _Flow(max_in_flight, stats)
    pending = collections.deque(eps)
    active: List[_Feed] = []
    feeds: List[_Feed] = []

    def start_more() -> None:
        while pending and len(active) < window:
            feed = _Feed(pending.popleft())
            reader = EndpointReader(feed.endpoint, timeout=timeout, on_batch=on_batch,
                                    stall_timeout=stall_timeout, stats=stats)
            feed.thread = threading.Thread(
                target=_produce, args=(flow, feed, plan.schema, reader, bar),
                name=f"imageflight-ep{feed.endpoint.index}", daemon=True)
            active.append(feed)
            feeds.append(feed)
            feed.thread.start()

    started = time.monotonic()
    handed = False  # a batch was yielded and its permit is still held
    try:
        start_more()
        while active:
            feed = active[rng.randrange(len(active))] if rng is not None else active[0]
            with flow.cond:
                flow.wanted = feed
                flow.cond.notify_all()
                while not feed.queue and not feed.done and flow.error is None:
                    flow.cond.wait()
                if flow.error is not None:
                    raise flow.error
                batch = feed.queue.popleft() if feed.queue else None
            if batch is None:  # finished and drained
                active.remove(feed)
                start_more()
                continue
            handed = True
            yield batch
            handed = False
            flow.release()
    finally:
        if handed:
            flow.release()
        with flow.cond:
            flow.closed = True
            flow.cond.notify_all()
        stats.seconds += time.monotonic() - started
        # Readers blocked on a permit exit at once; one blocked in a network read exits
        # after it (its stream is cancelled by EndpointReader when the generator closes).
        for f in feeds:
            if f.thread is not None and f.thread is not threading.current_thread():
                f.thread.join(timeout=0.05)


def _shuffle_rows(batches: Iterable[pa.RecordBatch], size: int,
                  rng: random.Random) -> Iterator[pa.RecordBatch]:
    """The shuffle buffer: keeps ``size`` rows; each incoming row replaces a random one of
    them, which is emitted. Output batches have the sizes of the input batches; the rows
    left at the end are emitted shuffled. Buffered rows keep their batch alive; the buffer
    is compacted when the batches it pins hold more than twice its rows."""
    chunks: Dict[int, pa.RecordBatch] = {}
    live: Dict[int, int] = {}
    buf: List[Tuple[int, int]] = []
    next_id = 0
    schema: Optional[pa.Schema] = None
    pinned = 0  # rows of the batches in `chunks`
    rows_in = batches_in = 0

    def gather(refs: List[Tuple[int, int]]) -> pa.RecordBatch:
        order = sorted(set(c for c, _ in refs))
        offset, base = 0, {}
        for c in order:
            base[c] = offset
            offset += chunks[c].num_rows
        table = pa.Table.from_batches([chunks[c] for c in order], schema=schema)
        out = table.take(pa.array([base[c] + r for c, r in refs], pa.int64()))
        return out.combine_chunks().to_batches()[0] if out.num_rows else pa.RecordBatch.from_pylist([], schema=schema)

    def forget(refs: List[Tuple[int, int]]) -> None:
        nonlocal pinned
        for c, _ in refs:
            live[c] -= 1
            if live[c] == 0:
                pinned -= chunks[c].num_rows
                del live[c], chunks[c]

    for b in batches:
        schema = b.schema
        if b.num_rows == 0:
            continue
        rows_in, batches_in = rows_in + b.num_rows, batches_in + 1
        cid, next_id = next_id, next_id + 1
        chunks[cid], live[cid] = b, b.num_rows
        pinned += b.num_rows
        out: List[Tuple[int, int]] = []
        for r in range(b.num_rows):
            if len(buf) < size:
                buf.append((cid, r))
            else:
                j = rng.randrange(size)
                out.append(buf[j])
                buf[j] = (cid, r)
        if out:
            batch = gather(out)
            forget(out)
            yield batch
        if pinned > 2 * size + b.num_rows and buf:
            compact = gather(buf)
            forget(buf)
            cid, next_id = next_id, next_id + 1
            chunks[cid], live[cid] = compact, compact.num_rows
            pinned += compact.num_rows
            buf = [(cid, i) for i in range(compact.num_rows)]
    rng.shuffle(buf)
    step = max(1, round(rows_in / batches_in)) if batches_in else 1
    for i in range(0, len(buf), step):
        part = buf[i:i + step]
        batch = gather(part)
        forget(part)
        yield batch
