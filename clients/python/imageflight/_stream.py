"""Reading one endpoint: DoGet with failover between its locations, resume after a
mid-stream failure, and a watchdog for locations that hang.

Resume contract (docs/protocol.md, "Resuming a stream"): the server puts ``{"next": N}``
into each batch's app_metadata, N being the split position after that batch (the split's
files consumed, dropped files included); a stream that fails after some batches continues
on the endpoint's next location with the ticket ``<ticket>;skip=N`` (``_wire``). See
:meth:`EndpointReader._resume_ticket`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pyarrow as pa
import pyarrow.flight as flight

from ._connections import _call_options, _drop_client, connect, reachable, unix_path
from ._errors import (
    ForkHelperLost,
    StallTimeout,
    StreamInterrupted,
    Unavailable,
    _clean,
    _is_plan_expired,
    _plan_expired,
    _translate,
)
from ._plan import Endpoint
from ._stats import ReadStats
from ._wire import parse_batch_meta, resume_ticket

_log = logging.getLogger("imageflight")


def _next_offset(metadata: Optional[pa.Buffer]) -> Optional[int]:
    """Parses {"next": N} from a batch's app_metadata (the resume contract); None if absent."""
    return parse_batch_meta(None if metadata is None else metadata.to_pybytes())


#: ``on_batch(endpoint_index, location, batch)``: called in the reading thread for every
#: record batch, with the endpoint's index in the plan and the location that sent it.
BatchCallback = Callable[[int, str, pa.RecordBatch], None]

#: Default ``stall_timeout`` (seconds without a batch before a location counts as hung),
#: the Go client's default too.
DEFAULT_STALL_TIMEOUT = 60.0


class _Watchdog:
    """Calls ``fire()`` once when ``kick()`` has not been called for ``seconds``.

    One thread per stream; pyarrow's ``FlightStreamReader.cancel()`` (the fire action)
    makes a ``read_chunk()`` blocked in another thread return with FlightCancelledError.
    FlightCallOptions(timeout=...) cannot do this: it is a deadline for the whole call.
    """

    def __init__(self, seconds: float, fire: Callable[[], None], name: str):
        self.seconds = seconds
        self._fire = fire
        self._cond = threading.Condition()
        self._deadline = time.monotonic() + seconds
        self._stopped = False
        self.fired = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def kick(self) -> None:
        with self._cond:
            self._deadline = time.monotonic() + self.seconds

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                left = self._deadline - time.monotonic()
                if left <= 0:
                    self.fired = True
                    break
                self._cond.wait(left)
        if self.fired:
            try:
                self._fire()
            except Exception:  # pragma: no cover - cancel is best effort
                pass


def _do_get_within(client: flight.FlightClient, ticket: bytes, options: flight.FlightCallOptions,
                   seconds: float, location: str) -> flight.FlightStreamReader:
    """``client.do_get`` that gives up after ``seconds``.

    pyarrow's do_get blocks until the server sent the stream's schema, and there is no
    reader to cancel yet, so the call runs in a helper thread. If it is abandoned and
    returns later (the hung server woke up), its stream is cancelled at once: no row of it
    is ever read.
    """
    lock = threading.Lock()
    box: Dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            r = client.do_get(flight.Ticket(ticket), options)
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            with lock:
                box["err"] = err
        else:
            with lock:
                if box.get("abandoned"):
                    r.cancel()
                else:
                    box["reader"] = r
        done.set()

    threading.Thread(target=run, name="imageflight-doget", daemon=True).start()
    done.wait(seconds)
    with lock:
        if "reader" in box:
            return box["reader"]
        if "err" in box:
            raise box["err"]
        box["abandoned"] = True
    raise StallTimeout(f"DoGet on {location}: no schema within {seconds:g} s (hung server?)")


class EndpointReader:
    """Streams one endpoint's batches, failing over between its locations.

    State kept for the resume contract: ``rows`` (rows received so far) and ``next_offset``
    (the last ``{"next": N}`` the server sent in app_metadata). ``resumed`` counts mid-stream
    resumes, ``errors`` holds every failed attempt.

    ``stall_timeout``: seconds a location may send nothing (no schema, no batch) before its
    stream is cancelled and the next location takes over (``None``: wait forever).
    ``on_batch(endpoint_index, location, batch)`` is called for every batch before it is
    yielded (progress, metrics; an exception it raises aborts the read).
    """

    def __init__(self, endpoint: Endpoint, timeout: Optional[float] = None,
                 on_batch: Optional[BatchCallback] = None,
                 resume: bool = True,
                 stall_timeout: Optional[float] = DEFAULT_STALL_TIMEOUT,
                 stats: Optional[ReadStats] = None):
        self.endpoint = endpoint
        self.resume = resume
        self.timeout = timeout
        self.stall_timeout = stall_timeout
        self.on_batch = on_batch
        self.stats = stats
        self.rows = 0
        self.next_offset: Optional[int] = None
        self.errors: List[Tuple[str, BaseException]] = []
        self.resumed = 0
        self.failovers = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        ticket = self.endpoint.ticket
        idx = self.endpoint.index
        locations = reachable(list(self.endpoint.locations))
        if not locations:
            raise Unavailable(f"endpoint {idx}: none of its {len(self.endpoint.locations)} locations "
                              "is reachable from this host (Unix sockets of other hosts only)")
        for location in locations:
            try:
                yield from self._stream(location, ticket)
                return
            except GeneratorExit:
                raise
            except Exception as err:  # noqa: BLE001
                if isinstance(err, ForkHelperLost):
                    # This process's fork helper died (its owner is shutting down, or it
                    # was killed): not the location's fault, another would fare no better.
                    raise
                self.errors.append((location, err))
                if _is_plan_expired(err):
                    # Expired ticket / plan no longer held: every location answers the same,
                    # so neither failover nor resume can help; the caller must plan again.
                    raise _plan_expired(err, f"DoGet endpoint {idx} on {location}",
                                        self.rows) from err
                stalled = isinstance(err, StallTimeout)
                if self.stats is not None and stalled:
                    self.stats._add("stalls", idx, location, err)
                if isinstance(err, (flight.FlightUnavailableError, flight.FlightTimedOutError,
                                    StallTimeout)):
                    _drop_client(location)
                # A Unix socket is a path: whatever answers there (a dead worker's
                # leftover, another cluster's worker), the same worker's network location
                # may still serve the ticket.
                retry = _retryable(err) or unix_path(location) is not None
                if self.rows == 0 and self.next_offset is None and retry:
                    # Nothing received yet: the next location is an equivalent copy.
                    self.failovers += 1
                    if self.stats is not None:
                        self.stats._add("failovers", idx, location, err)
                    _log.warning("endpoint %d: %s failed before any row (%s); trying the next location",
                                 idx, location, _clean(err))
                    continue
                if self.rows > 0 or self.next_offset is not None:
                    ticket = self._resume_ticket(location, err, retry)
                    if self.stats is not None:
                        self.stats._add("resumes", idx, location, err)
                    _log.warning("endpoint %d: %s failed after %d rows (%s); resuming at file %d "
                                 "on the next location", idx, location, self.rows, _clean(err),
                                 self.next_offset)
                    continue
                raise _translate(err, f"DoGet endpoint {idx} on {location}") from err
        tried = "; ".join(f"{loc}: {_clean(e)}" for loc, e in self.errors)
        if self.rows:
            raise StreamInterrupted(
                f"endpoint {idx}: every location failed, after {self.rows} rows "
                f"({tried})", rows_received=self.rows, next_offset=self.next_offset,
            ) from self.errors[-1][1]
        raise Unavailable(
            f"endpoint {idx}: no location could serve it ({tried})"
        ) from (self.errors[-1][1] if self.errors else None)

    def _stream(self, location: str, ticket: bytes) -> Iterator[pa.RecordBatch]:
        client = connect(location)
        options = _call_options(self.timeout)
        if not self.stall_timeout:
            reader = client.do_get(flight.Ticket(ticket), options)
            yield from self._chunks(location, reader, None)
            return
        reader = _do_get_within(client, ticket, options, self.stall_timeout, location)
        dog = _Watchdog(self.stall_timeout, reader.cancel, f"imageflight-stall-{self.endpoint.index}")
        finished = False
        try:
            yield from self._chunks(location, reader, dog)
            finished = True
        except Exception as err:  # noqa: BLE001
            if dog.fired:
                raise StallTimeout(
                    f"DoGet on {location}: no batch for {self.stall_timeout:g} s after "
                    f"{self.rows} rows (hung server?); stream cancelled") from err
            raise
        finally:
            dog.stop()
            if not finished:  # failed, stalled or abandoned by the consumer: free the call
                try:
                    reader.cancel()
                except Exception:  # pragma: no cover
                    pass

    def _chunks(self, location: str, reader: flight.FlightStreamReader,
                dog: Optional[_Watchdog]) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                return
            if dog is not None:
                if dog.fired:  # a batch that raced with the cancel: the stream is being dropped
                    raise StallTimeout(f"DoGet on {location}: stream cancelled after a stall")
                dog.kick()
            batch = chunk.data
            if batch is None:
                continue
            n = _next_offset(chunk.app_metadata)
            self.rows += batch.num_rows
            if n is not None:
                self.next_offset = n
            if self.stats is not None:
                self.stats._batch(location, batch)
            if self.on_batch is not None:
                self.on_batch(self.endpoint.index, location, batch)
            yield batch

    def _resume_ticket(self, location: str, err: BaseException, retry: bool) -> bytes:
        """Returns the ticket that resumes this endpoint after ``self.next_offset``.

        Scheme (docs/protocol.md): the original ticket with ``;skip=N`` appended, N being
        the ``next`` of the last batch received; the suffix is outside the signature.
        """
        if not self.resume or self.next_offset is None or not retry:
            raise StreamInterrupted(
                f"DoGet endpoint {self.endpoint.index} on {location} failed after {self.rows} rows "
                f"(next offset {self.next_offset}); cannot resume on another location: {_clean(err)}",
                rows_received=self.rows,
                next_offset=self.next_offset,
            ) from err
        self.resumed += 1
        return resume_ticket(self.endpoint.ticket, self.next_offset)


def _retryable(err: BaseException) -> bool:
    """Errors for which another location may succeed (not a bad ticket or a bad path)."""
    if isinstance(err, (pa.ArrowInvalid, pa.ArrowKeyError, flight.FlightUnauthorizedError,
                        flight.FlightUnauthenticatedError, ForkHelperLost)):
        return False
    if _is_plan_expired(err):  # whatever class a pyarrow version maps FAILED_PRECONDITION to
        return False
    return True


def read_endpoint(endpoint: Endpoint, timeout: Optional[float] = None,
                  on_batch: Optional[BatchCallback] = None,
                  stall_timeout: Optional[float] = DEFAULT_STALL_TIMEOUT,
                  stats: Optional[ReadStats] = None) -> Iterator[pa.RecordBatch]:
    """Yields the record batches of one endpoint, with failover and resume between its
    locations (see :class:`EndpointReader`)."""
    return iter(EndpointReader(endpoint, timeout=timeout, on_batch=on_batch,
                               stall_timeout=stall_timeout, stats=stats))
