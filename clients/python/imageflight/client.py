"""Arrow Flight client for an imageflight cluster.

The flow is the one every Flight client follows:

1. ``GetFlightInfo`` on the coordinator with a JSON command (path and read options).
   The answer holds the schema (Spark's ``image`` struct plus ``key=value`` partition
   columns) and one endpoint per split; each endpoint carries a ticket and one or more
   equivalent locations, the preferred one first.
2. ``DoGet(ticket)`` on a location of every endpoint, in parallel threads. A location that
   fails before the first batch arrived is skipped in favour of the next one (failover).
3. The batches are concatenated in endpoint order, so the result is deterministic.

Mid-stream failures: the server puts ``{"next": N}`` into each batch's app_metadata, N being
the split position (files consumed) after that batch. A stream that fails after some
batches is resumed on the endpoint's next location with the ticket ``<ticket>;skip=N``
(the server's documented scheme, see pkg/flight/ticket.go); the rows already received are
kept, so the result has every row exactly once. The seam is
:meth:`EndpointReader._resume_ticket`. If the server sent no ``next`` (or resuming is
disabled), a failure after the first batch raises :class:`StreamInterrupted`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.flight as flight

__all__ = [
    "DEFAULT_COORDINATOR",
    "IMAGE_FIELDS",
    "IMAGE_STRUCT",
    "ImageFlightError",
    "InvalidArgument",
    "PathNotFound",
    "PermissionDenied",
    "Unavailable",
    "StreamInterrupted",
    "StallTimeout",
    "BatchCallback",
    "DEFAULT_STALL_TIMEOUT",
    "Endpoint",
    "EndpointReader",
    "ReadStats",
    "Plan",
    "build_command",
    "connect",
    "get_plan",
    "read_endpoint",
    "read_images",
    "read_plan",
    "to_numpy",
]

DEFAULT_COORDINATOR = "grpc://127.0.0.1:8815"

_log = logging.getLogger("imageflight")

#: The fields of Spark's image struct, in order (ImageSchema.columnSchema).
IMAGE_FIELDS = ("origin", "height", "width", "nChannels", "mode", "data")

#: Arrow type of the ``image`` column as the server sends it.
IMAGE_STRUCT = pa.struct(
    [
        pa.field("origin", pa.utf8(), nullable=True),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("nChannels", pa.int32(), nullable=False),
        pa.field("mode", pa.int32(), nullable=False),
        pa.field("data", pa.binary(), nullable=False),
    ]
)

# Location that the Flight spec reserves for "the service you got the FlightInfo from".
_REUSE_CONNECTION = "arrow-flight-reuse-connection://?"

# No gRPC message size limit: one 1080p BGR image alone is 6.2 MB, above gRPC's 4 MiB default.
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
]


# --------------------------------------------------------------------------- errors


class ImageFlightError(Exception):
    """Base class of every error this client raises on purpose."""


class InvalidArgument(ImageFlightError, ValueError):
    """An option was rejected (client-side validation or the server's InvalidArgument)."""


class PermissionDenied(ImageFlightError, PermissionError):
    """The path lies outside the server's configured roots (or the ticket was refused)."""


class PathNotFound(ImageFlightError, FileNotFoundError):
    """The path does not exist on the server's file system."""


class Unavailable(ImageFlightError, ConnectionError):
    """No location of an endpoint (or the coordinator) could be reached."""


class StreamInterrupted(ImageFlightError):
    """A DoGet stream failed after rows had been received.

    Raised when every location of an endpoint failed, or when a stream cannot be resumed
    (the server sent no ``next`` offset, resuming was disabled, or the error is not one
    another location could fix); ``rows_received`` and ``next_offset`` tell how far it got.
    """

    def __init__(self, message: str, rows_received: int, next_offset: Optional[int]):
        super().__init__(message)
        self.rows_received = rows_received
        self.next_offset = next_offset


def _translate(err: BaseException, what: str) -> BaseException:
    """Maps a pyarrow/Flight exception to this module's exception types.

    pyarrow maps gRPC codes as follows: INVALID_ARGUMENT -> ArrowInvalid, NOT_FOUND ->
    ArrowKeyError, PERMISSION_DENIED -> FlightUnauthorizedError, UNAVAILABLE ->
    FlightUnavailableError, DEADLINE_EXCEEDED -> FlightTimedOutError.
    """
    msg = f"{what}: {_clean(err)}"
    if isinstance(err, ImageFlightError):
        return err
    if isinstance(err, flight.FlightUnauthorizedError):
        return PermissionDenied(msg)
    if isinstance(err, flight.FlightUnauthenticatedError):
        return PermissionDenied(msg)
    if isinstance(err, flight.FlightUnavailableError):
        return Unavailable(msg)
    if isinstance(err, flight.FlightTimedOutError):
        return Unavailable(msg)
    if isinstance(err, pa.ArrowKeyError):
        return PathNotFound(msg)
    if isinstance(err, pa.ArrowInvalid):
        return InvalidArgument(msg)
    return ImageFlightError(msg)


def _clean(err: BaseException) -> str:
    # pyarrow appends ". Detail: ..." and gRPC debug strings; keep the useful head.
    text = str(err).strip()
    for marker in (". gRPC client debug context", "\ngRPC client debug context"):
        if marker in text:
            text = text.split(marker, 1)[0]
    return text


# --------------------------------------------------------------------------- planning


_BOOL_TRUE = {"true", "1", "yes", "on"}
_BOOL_FALSE = {"false", "0", "no", "off"}


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOL_TRUE | _BOOL_FALSE:
        return value.strip().lower() in _BOOL_TRUE
    raise InvalidArgument(f"{name} must be a boolean, got {value!r}")


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidArgument(f"{name} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidArgument(f"{name} must be an integer, got {value!r}")


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidArgument(f"{name} must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be a number, got {value!r}") from None
    if math.isnan(out):
        raise InvalidArgument(f"{name} must be a number, got {value!r}")
    return out


def build_command(
    path: Any,
    recursive: Any = False,
    num_partitions: Any = -1,
    drop_image_failures: Any = False,
    sample_ratio: Any = 1.0,
    seed: Any = 0,
) -> Dict[str, Any]:
    """Validates the read options and returns the JSON command for GetFlightInfo."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path.strip():
        raise InvalidArgument(f"path must be a non-empty string, got {path!r}")
    recursive = _as_bool("recursive", recursive)
    drop = _as_bool("drop_image_failures", drop_image_failures)
    num_partitions = _as_int("num_partitions", num_partitions)
    if num_partitions == 0 or num_partitions < -1:
        raise InvalidArgument(
            f"num_partitions must be -1 (server chooses) or a positive integer, got {num_partitions}"
        )
    sample_ratio = _as_float("sample_ratio", sample_ratio)
    if not 0.0 <= sample_ratio <= 1.0:
        raise InvalidArgument(f"sample_ratio must be in [0, 1], got {sample_ratio}")
    seed = _as_int("seed", seed)
    if not -(2**63) <= seed < 2**63:
        raise InvalidArgument(f"seed must fit in a signed 64-bit integer, got {seed}")
    return {
        "path": path,
        "recursive": recursive,
        "numPartitions": num_partitions,
        "sampleRatio": sample_ratio,
        "seed": seed,
        "dropImageFailures": drop,
    }


@dataclass(frozen=True)
class Endpoint:
    """One split of a plan: an opaque ticket and the equivalent locations serving it."""

    index: int
    ticket: bytes
    locations: Tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """The answer of GetFlightInfo in plain, picklable Python values."""

    coordinator: str
    schema: pa.Schema
    endpoints: Tuple[Endpoint, ...]
    total_records: int = -1
    total_bytes: int = -1

    @property
    def partition_columns(self) -> List[str]:
        return [f.name for f in self.schema if f.name != "image"]


def _normalize_location(uri: str) -> str:
    if "://" not in uri:
        uri = "grpc://" + uri
    return uri


_clients: Dict[Tuple[str, int], flight.FlightClient] = {}
_clients_lock = threading.Lock()


def connect(location: str) -> flight.FlightClient:
    """Returns a FlightClient for location (cached per process and thread-safe).

    pyarrow's FlightClient is safe to share between threads; message size limits are
    lifted because one image may exceed gRPC's 4 MiB default.
    """
    location = _normalize_location(location)
    key = (location, os.getpid())
    with _clients_lock:
        c = _clients.get(key)
        if c is None:
            c = flight.FlightClient(location, generic_options=_GRPC_OPTIONS)
            _clients[key] = c
        return c


def _drop_client(location: str) -> None:
    """Forgets the cached client of a failed location, so the next call reconnects.

    The client is not closed: other threads may be streaming from it (closing it would fail
    their calls with "FlightClient is closed"); it is closed when the last reader lets go.
    """
    key = (_normalize_location(location), os.getpid())
    with _clients_lock:
        _clients.pop(key, None)


def _call_options(timeout: Optional[float]) -> flight.FlightCallOptions:
    if timeout is None:
        return flight.FlightCallOptions()
    return flight.FlightCallOptions(timeout=float(timeout))


def get_plan(
    command: Dict[str, Any],
    coordinator: str = DEFAULT_COORDINATOR,
    timeout: Optional[float] = None,
) -> Plan:
    """Runs GetFlightInfo for a command built by :func:`build_command`."""
    coordinator = _normalize_location(coordinator)
    descriptor = flight.FlightDescriptor.for_command(json.dumps(command).encode("utf-8"))
    try:
        info = connect(coordinator).get_flight_info(descriptor, _call_options(timeout))
    except Exception as err:  # noqa: BLE001 - translated below
        if isinstance(err, (flight.FlightUnavailableError, flight.FlightTimedOutError)):
            _drop_client(coordinator)
        raise _translate(err, f"GetFlightInfo({command['path']!r}) on {coordinator}") from err
    endpoints = []
    for i, ep in enumerate(info.endpoints):
        locs = tuple(_normalize_location(loc.uri.decode() if isinstance(loc.uri, bytes) else loc.uri)
                     for loc in ep.locations)
        locs = tuple(coordinator if loc == _REUSE_CONNECTION else loc for loc in locs)
        if not locs:  # Flight spec: no location means "the service that answered GetFlightInfo".
            locs = (coordinator,)
        endpoints.append(Endpoint(index=i, ticket=ep.ticket.ticket, locations=locs))
    schema = info.schema
    if schema.get_field_index("image") != 0 or not pa.types.is_struct(schema.field(0).type):
        raise ImageFlightError(f"unexpected schema from {coordinator}: {schema}")
    return Plan(
        coordinator=coordinator,
        schema=schema,
        endpoints=tuple(endpoints),
        total_records=info.total_records,
        total_bytes=info.total_bytes,
    )


# --------------------------------------------------------------------------- reading


def _next_offset(metadata: Optional[pa.Buffer]) -> Optional[int]:
    """Parses {"next": N} from a batch's app_metadata (the resume contract); None if absent."""
    if metadata is None or metadata.size == 0:
        return None
    try:
        doc = json.loads(metadata.to_pybytes())
        n = doc.get("next") if isinstance(doc, dict) else None
        return int(n) if isinstance(n, int) else None
    except (ValueError, UnicodeDecodeError):
        return None


#: ``on_batch(endpoint_index, location, batch)``: called in the reading thread for every
#: record batch, with the endpoint's index in the plan and the location that sent it.
BatchCallback = Callable[[int, str, pa.RecordBatch], None]

#: Default ``stall_timeout`` (seconds without a batch before a location counts as hung),
#: the Go client's default too.
DEFAULT_STALL_TIMEOUT = 60.0


@dataclass
class ReadStats:
    """Counters of one read, filled in place (thread-safe) by :func:`read_images`,
    :func:`read_plan` and :class:`EndpointReader` when passed as ``stats=``.

    ``failovers``: locations given up before they sent a row (the next one served the whole
    split); ``resumes``: streams continued on another location with ``;skip=N`` after rows
    had arrived; ``stalls``: streams cancelled because a location sent nothing for
    ``stall_timeout`` seconds; ``errors``: ``(endpoint index, location, message)`` of every
    failed attempt; ``rows_by_location``: rows received from each location.
    """

    endpoints: int = 0
    rows: int = 0
    batches: int = 0
    bytes: int = 0
    failovers: int = 0
    resumes: int = 0
    stalls: int = 0
    seconds: float = 0.0
    errors: List[Tuple[int, str, str]] = field(default_factory=list)
    rows_by_location: Dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _batch(self, location: str, batch: pa.RecordBatch) -> None:
        with self._lock:
            self.rows += batch.num_rows
            self.batches += 1
            self.bytes += batch.nbytes
            self.rows_by_location[location] = self.rows_by_location.get(location, 0) + batch.num_rows

    def _add(self, counter: str, endpoint: int, location: str, err: BaseException) -> None:
        with self._lock:
            if counter:
                setattr(self, counter, getattr(self, counter) + 1)
            self.errors.append((endpoint, location, _clean(err)))


class StallTimeout(Unavailable):
    """A location sent nothing (no schema, no batch) for ``stall_timeout`` seconds: it is
    treated as hung, its stream is cancelled and the endpoint fails over / resumes."""


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
        for location in self.endpoint.locations:
            try:
                yield from self._stream(location, ticket)
                return
            except GeneratorExit:
                raise
            except Exception as err:  # noqa: BLE001
                self.errors.append((location, err))
                stalled = isinstance(err, StallTimeout)
                if self.stats is not None and stalled:
                    self.stats._add("stalls", idx, location, err)
                if isinstance(err, (flight.FlightUnavailableError, flight.FlightTimedOutError,
                                    StallTimeout)):
                    _drop_client(location)
                if self.rows == 0 and self.next_offset is None and _retryable(err):
                    # Nothing received yet: the next location is an equivalent copy.
                    self.failovers += 1
                    if self.stats is not None:
                        self.stats._add("failovers", idx, location, err)
                    _log.warning("endpoint %d: %s failed before any row (%s); trying the next location",
                                 idx, location, _clean(err))
                    continue
                if self.rows > 0 or self.next_offset is not None:
                    ticket = self._resume_ticket(location, err)
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

    def _resume_ticket(self, location: str, err: BaseException) -> bytes:
        """Returns the ticket that resumes this endpoint after ``self.next_offset``.

        Scheme (pkg/flight/ticket.go): the original ticket with ``;skip=N`` appended, N being
        the ``next`` of the last batch received; the suffix is outside the signature.
        """
        if not self.resume or self.next_offset is None or not _retryable(err):
            raise StreamInterrupted(
                f"DoGet endpoint {self.endpoint.index} on {location} failed after {self.rows} rows "
                f"(next offset {self.next_offset}); cannot resume on another location: {_clean(err)}",
                rows_received=self.rows,
                next_offset=self.next_offset,
            ) from err
        self.resumed += 1
        return self.endpoint.ticket + b";skip=%d" % self.next_offset


def _retryable(err: BaseException) -> bool:
    """Errors for which another location may succeed (not a bad ticket or a bad path)."""
    if isinstance(err, (pa.ArrowInvalid, pa.ArrowKeyError, flight.FlightUnauthorizedError,
                        flight.FlightUnauthenticatedError)):
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


class _Progress:
    """tqdm bar over splits (rows and MB as postfix), else one ``\\r``-updated stderr line."""

    def __init__(self, total: int, enabled: bool, stats: ReadStats):
        self.enabled = enabled
        self.total = total
        self.stats = stats
        self.done = 0
        self.lock = threading.Lock()
        self.bar = None
        self.last = 0.0
        if enabled:
            try:
                from tqdm.auto import tqdm  # type: ignore

                self.bar = tqdm(total=total, unit="split", desc="imageflight")
            except ImportError:
                self.bar = None

    def batch(self, endpoint: int, location: str, b: pa.RecordBatch) -> None:
        if not self.enabled:
            return
        with self.lock:
            self._show(False)

    def split_done(self) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.done += 1
            if self.bar is not None:
                self.bar.update(1)
            self._show(True)

    def _text(self) -> str:
        s = self.stats
        extra = f", {s.resumes} resumed" if s.resumes else ""
        extra += f", {s.failovers} failed over" if s.failovers else ""
        return f"{self.done}/{self.total} splits, {s.rows} rows, {s.bytes / 1e6:.1f} MB{extra}"

    def _show(self, force: bool) -> None:
        if self.bar is not None:
            s = self.stats
            post = dict(rows=s.rows, MB=round(s.bytes / 1e6, 1))
            if s.resumes:
                post["resumed"] = s.resumes
            self.bar.set_postfix(post, refresh=False)
            return
        now = time.monotonic()
        if not force and now - self.last < 0.5:
            return
        self.last = now
        sys.stderr.write(f"\rimageflight: {self._text()}")
        sys.stderr.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        else:
            self._show(True)
            sys.stderr.write("\n")
            sys.stderr.flush()


def read_images(
    path: Any,
    coordinator: str = DEFAULT_COORDINATOR,
    recursive: bool = False,
    num_partitions: int = -1,
    drop_image_failures: bool = False,
    sample_ratio: float = 1.0,
    seed: int = 0,
    max_workers: Optional[int] = None,
    progress: bool = False,
    timeout: Optional[float] = None,
    stall_timeout: Optional[float] = DEFAULT_STALL_TIMEOUT,
    on_batch: Optional[BatchCallback] = None,
    stats: Optional[ReadStats] = None,
) -> pa.Table:
    """Reads an image folder through an imageflight cluster into a pyarrow Table.

    The table has Spark's image schema: a struct column ``image`` (origin, height, width,
    nChannels, mode, data) followed by one column per ``key=value`` folder level.
    Rows come in endpoint order, and in path order within an endpoint.

    Args:
      path: local path, ``file:`` URI or ``hdfs://host:port/path`` as the server sees it.
      coordinator: Flight URI of the coordinator.
      recursive: also read sub-folders (Spark ``readImages``' ``recursive``).
      num_partitions: number of splits (endpoints); -1 lets the server choose.
      drop_image_failures: drop undecodable files instead of returning Spark's invalid row.
      sample_ratio: fraction of files to keep, in [0, 1]; sampled by hash of (seed, path).
      seed: sampling seed.
      max_workers: parallel DoGet streams (default: min(#endpoints, max(4, 2 * cores))).
      progress: show a progress bar (tqdm if installed, else one line on stderr).
      timeout: seconds for each Flight call as a whole (GetFlightInfo, each DoGet stream);
        a deadline, so it must exceed the longest split's transfer time. ``None``: no limit.
      stall_timeout: seconds a location may send nothing before it counts as hung; its
        stream is cancelled and the split resumes on the next location. ``None``: off.
      on_batch: ``on_batch(endpoint_index, location, batch)`` called for every record
        batch as it arrives, from the reading threads (progress, metrics).
      stats: a :class:`ReadStats` filled in place (rows, failovers, resumes, stalls, ...).
    """
    command = build_command(path, recursive, num_partitions, drop_image_failures, sample_ratio, seed)
    if max_workers is not None:
        max_workers = _as_int("max_workers", max_workers)
        if max_workers < 1:
            raise InvalidArgument(f"max_workers must be >= 1, got {max_workers}")
    if timeout is not None:
        timeout = _as_float("timeout", timeout)
        if timeout <= 0:
            raise InvalidArgument(f"timeout must be > 0 seconds, got {timeout}")
    stall_timeout = _check_stall_timeout(stall_timeout)
    if on_batch is not None and not callable(on_batch):
        raise InvalidArgument(f"on_batch must be callable, got {on_batch!r}")
    if stats is not None and not isinstance(stats, ReadStats):
        raise InvalidArgument(f"stats must be an imageflight.ReadStats, got {stats!r}")
    if not isinstance(coordinator, str) or not coordinator:
        raise InvalidArgument(f"coordinator must be a Flight URI string, got {coordinator!r}")

    plan = get_plan(command, coordinator, timeout=timeout)
    return read_plan(plan, max_workers=max_workers, progress=progress, timeout=timeout,
                     stall_timeout=stall_timeout, on_batch=on_batch, stats=stats)


def _check_stall_timeout(value: Any) -> Optional[float]:
    if value is None:
        return None
    value = _as_float("stall_timeout", value)
    if value <= 0:
        raise InvalidArgument(f"stall_timeout must be > 0 seconds (or None), got {value}")
    return value


def read_plan(plan: Plan, max_workers: Optional[int] = None, progress: bool = False,
              timeout: Optional[float] = None,
              stall_timeout: Optional[float] = DEFAULT_STALL_TIMEOUT,
              on_batch: Optional[BatchCallback] = None,
              stats: Optional[ReadStats] = None) -> pa.Table:
    """Fetches every endpoint of a plan in parallel and concatenates them in endpoint order."""
    stats = stats if stats is not None else ReadStats()
    stats.endpoints += len(plan.endpoints)
    if not plan.endpoints:
        return plan.schema.empty_table()
    if max_workers is None:
        max_workers = max(4, 2 * (os.cpu_count() or 1))
    max_workers = min(max_workers, len(plan.endpoints))
    bar = _Progress(len(plan.endpoints), progress, stats)

    def each_batch(i: int, loc: str, b: pa.RecordBatch) -> None:
        bar.batch(i, loc, b)
        if on_batch is not None:
            on_batch(i, loc, b)

    def fetch(ep: Endpoint) -> List[pa.RecordBatch]:
        out = list(EndpointReader(ep, timeout=timeout, on_batch=each_batch,
                                  stall_timeout=stall_timeout, stats=stats))
        bar.split_done()
        return out

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="imageflight") as pool:
            futures = [pool.submit(fetch, ep) for ep in plan.endpoints]
            try:
                results = [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    finally:
        stats.seconds += time.monotonic() - started
        bar.close()

    batches = []
    for ep, bs in zip(plan.endpoints, results):
        for b in bs:
            if not b.schema.equals(plan.schema):
                try:
                    b = b.cast(plan.schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as err:
                    raise ImageFlightError(
                        f"endpoint {ep.index} sent schema {b.schema}, plan announced {plan.schema}"
                    ) from err
            batches.append(b)
    return pa.Table.from_batches(batches, schema=plan.schema)


# --------------------------------------------------------------------------- numpy


def _image_dict(row: Any) -> Dict[str, Any]:
    """Extracts the image struct as a dict from the many shapes a row can take."""
    if isinstance(row, pa.StructScalar):
        row = row.as_py()
    elif isinstance(row, pa.Table) or isinstance(row, pa.RecordBatch):
        if row.num_rows != 1:
            raise ValueError(f"to_numpy needs exactly one row, got a table of {row.num_rows}")
        row = row.slice(0, 1).to_pylist()[0]
    if hasattr(row, "asDict") and not isinstance(row, dict):  # pyspark.sql.Row
        row = row.asDict(recursive=True)
    elif hasattr(row, "to_dict") and not isinstance(row, dict):  # pandas.Series
        row = row.to_dict()
    if not isinstance(row, dict):
        raise TypeError(f"to_numpy: cannot read an image from {type(row).__name__}")
    if "image" in row and not {"height", "data"} <= set(row):
        return _image_dict(row["image"])
    missing = [k for k in ("height", "width", "nChannels", "data") if k not in row]
    if missing:
        raise TypeError(f"to_numpy: row has no image struct (missing {missing})")
    return row


_MODE_DTYPES = {0: "u1", 16: "u1", 24: "u1", 2: "<u2", 18: "<u2", 26: "<u2"}


def to_numpy(row_or_struct: Any, rgb: bool = False):
    """Returns the pixels of one image row as a numpy array of shape (height, width, nChannels).

    Accepts a row of :func:`read_images`' table (``table.slice(i, 1)``,
    ``table.to_pylist()[i]``, ``table.column("image")[i]``), a pandas row or its ``image``
    dict, or a ``pyspark.sql.Row`` (the row or its ``image`` field).

    Spark's layout is kept: uint8, channels B, G, R(, A); 1-channel images give
    (H, W, 1). With ``rgb=True`` the colour channels are reversed (BGR -> RGB, BGRA -> RGBA).
    The returned array is a writable copy. Invalid rows (height -1) raise ValueError.
    """
    import numpy as np

    img = _image_dict(row_or_struct)
    h, w, c = int(img["height"]), int(img["width"]), int(img["nChannels"])
    origin = img.get("origin")
    if h < 0 or w < 0 or c < 0:
        raise ValueError(f"invalid image row (undecodable file): {origin}")
    mode = img.get("mode")
    dtype = np.dtype(_MODE_DTYPES.get(int(mode), "u1") if mode is not None else "u1")
    data = img["data"]
    if isinstance(data, pa.Scalar):
        data = data.as_py()
    arr = np.frombuffer(data, dtype=dtype)
    if arr.size != h * w * c:
        raise ValueError(
            f"image {origin}: {len(data)} data bytes do not match {h}x{w}x{c} {dtype}"
        )
    arr = arr.reshape(h, w, c)
    if rgb and c >= 3:
        order = [2, 1, 0] + list(range(3, c))
        return arr[:, :, order].copy()
    return arr.copy()
