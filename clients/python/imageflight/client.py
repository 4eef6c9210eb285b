"""Arrow Flight client for an imageflight cluster.

The flow is the one every Flight client follows:

1. ``GetFlightInfo`` on the coordinator with a JSON command (path and read options).
   The answer holds the schema (Spark's ``image`` struct plus ``key=value`` partition
   columns) and one endpoint per split; each endpoint carries a ticket and one or more
   equivalent locations, the preferred one first.
2. ``DoGet(ticket)`` on a location of every endpoint, in parallel threads. A location that
   fails before the first batch arrived is skipped in favour of the next one (failover).
3. The batches are concatenated in endpoint order, so the result is deterministic
   (:func:`read_images`), or streamed as they arrive with a bounded number in flight
   (:func:`iter_batches`, ``_batches``).

Mid-stream failures: the server puts ``{"next": N}`` into each batch's app_metadata, N being
the split position (files consumed) after that batch. A stream that fails after some
batches is resumed on the endpoint's next location with the ticket ``<ticket>;skip=N``
(docs/protocol.md, "Resuming a stream"); the rows already received are
kept, so the result has every row exactly once. The seam is
:meth:`EndpointReader._resume_ticket`. If the server sent no ``next`` (or resuming is
disabled), a failure after the first batch raises :class:`StreamInterrupted`.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Sequence

import pyarrow as pa

# The pieces live in private modules named for what they provide; this module is the
# public API and re-exports them, so ``imageflight.client.X`` keeps working (spark.py
# also reads _as_float and _check_stall_timeout from here).
from ._batches import IN_FLIGHT_PER_STREAM, _check, iter_plan
from ._connections import close_connections, connect
from ._errors import (
    ImageFlightError,
    InvalidArgument,
    PathNotFound,
    PermissionDenied,
    PlanExpired,
    StallTimeout,
    StreamInterrupted,
    Unavailable,
)
from ._image import IMAGE_FIELDS, IMAGE_STRUCT, labels_to_indices, to_numpy
from ._options import _as_bool, _as_float, _as_int, _check_stall_timeout, build_command, check_selection
from ._plan import COORDINATOR_ENV, DEFAULT_COORDINATOR, Endpoint, Plan, get_plan, resolve_coordinator
from ._stats import REASON_IN_WORKER_LOG, FailedImage, ReadStats
from ._stream import (
    DEFAULT_STALL_TIMEOUT,
    BatchCallback,
    EndpointReader,
    read_endpoint,
)

__all__ = [
    "COORDINATOR_ENV",
    "DEFAULT_COORDINATOR",
    "IMAGE_FIELDS",
    "IMAGE_STRUCT",
    "ImageFlightError",
    "InvalidArgument",
    "PathNotFound",
    "PermissionDenied",
    "PlanExpired",
    "Unavailable",
    "StreamInterrupted",
    "StallTimeout",
    "BatchCallback",
    "DEFAULT_STALL_TIMEOUT",
    "Endpoint",
    "EndpointReader",
    "FailedImage",
    "IN_FLIGHT_PER_STREAM",
    "REASON_IN_WORKER_LOG",
    "ReadStats",
    "Plan",
    "build_command",
    "close_connections",
    "connect",
    "get_plan",
    "iter_batches",
    "iter_plan",
    "labels_to_indices",
    "read_endpoint",
    "read_images",
    "read_plan",
    "to_numpy",
]


def _check_common(coordinator: Any, timeout: Any, stall_timeout: Any, on_batch: Any,
                  stats: Any) -> Optional[float]:
    if timeout is not None:
        timeout = _as_float("timeout", timeout)
        if timeout <= 0:
            raise InvalidArgument(f"timeout must be > 0 seconds, got {timeout}")
    _check_stall_timeout(stall_timeout)
    if on_batch is not None and not callable(on_batch):
        raise InvalidArgument(f"on_batch must be callable, got {on_batch!r}")
    if stats is not None and not isinstance(stats, ReadStats):
        raise InvalidArgument(f"stats must be an imageflight.ReadStats, got {stats!r}")
    resolve_coordinator(coordinator)
    return timeout


def read_images(
    path: Any,
    coordinator: Optional[str] = None,
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
    transforms: Any = None,
    tensor: Any = None,
    fast_resize: bool = False,
    **selection: Any,
) -> pa.Table:
    """Reads an image folder through an imageflight cluster into a pyarrow Table.

    The table has Spark's image schema: a struct column ``image`` (origin, height, width,
    nChannels, mode, data) followed by one column per ``key=value`` folder level.
    Rows come in endpoint order, and in path order within an endpoint. The whole result is
    held in memory; :func:`iter_batches` streams it instead.

    Args:
      path: local path, ``file:`` URI or ``hdfs://host:port/path`` as the server sees it.
      coordinator: Flight URI of the coordinator (default: ``$IMAGEFLIGHT_COORDINATOR``, else
        ``grpc://127.0.0.1:8815``).
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
      stats: a :class:`ReadStats` filled in place (rows, failovers, resumes, stalls,
        failed files, ...).
      transforms: SynapseML ImageTransformer stages the workers apply to every image
        (:class:`~imageflight.Transforms`, or a list of stage dicts); rows describe the
        transformed pixels.
      tensor: add a ``tensor`` column (Arrow fixed_shape_tensor, C×H×W) with SynapseML's
        toTensor arithmetic: :class:`~imageflight.Tensor`, a dict of its parameters, or
        ``True`` for the defaults. Needs transforms that fix every image's size.
      fast_resize: decode JPEGs at reduced scale when the first stage shrinks them 2× or
        more (faster; pixels differ slightly from decode + resize, docs/transforms.md).
      **selection: the file-selection keys of :func:`~imageflight.build_command`
        (``base_path``, ``path_glob_filter``, ``file_extensions``, ``limit``,
        ``partition_filters``, ``pixels``, ``failure_reasons``).
    """
    check_selection(read_images, selection)
    command = build_command(path, recursive, num_partitions, drop_image_failures, sample_ratio, seed,
                            transforms=transforms, tensor=tensor, fast_resize=fast_resize, **selection)
    if max_workers is not None:
        max_workers = _as_int("max_workers", max_workers)
        if max_workers < 1:
            raise InvalidArgument(f"max_workers must be >= 1, got {max_workers}")
    timeout = _check_common(coordinator, timeout, stall_timeout, on_batch, stats)
    stall_timeout = _check_stall_timeout(stall_timeout)
    plan = get_plan(command, coordinator, timeout=timeout)
    return read_plan(plan, max_workers=max_workers, progress=progress, timeout=timeout,
                     stall_timeout=stall_timeout, on_batch=on_batch, stats=stats)


def read_plan(plan: Plan, max_workers: Optional[int] = None, progress: bool = False,
              timeout: Optional[float] = None,
              stall_timeout: Optional[float] = DEFAULT_STALL_TIMEOUT,
              on_batch: Optional[BatchCallback] = None,
              stats: Optional[ReadStats] = None) -> pa.Table:
    """Fetches every endpoint of a plan in parallel and concatenates them in endpoint order
    (:func:`iter_plan` with no bound on the batches in flight: all are kept anyway)."""
    batches = list(iter_plan(plan, max_workers=max_workers, max_in_flight=None,
                             timeout=timeout, stall_timeout=stall_timeout, on_batch=on_batch,
                             stats=stats, progress=progress))
    return pa.Table.from_batches(batches, schema=plan.schema)


def iter_batches(
    path: Any,
    coordinator: Optional[str] = None,
    recursive: bool = False,
    num_partitions: int = -1,
    drop_image_failures: bool = False,
    sample_ratio: float = 1.0,
    seed: int = 0,
    *,
    max_workers: Optional[int] = None,
    max_in_flight: Optional[int] = -1,
    shuffle: bool = False,
    shuffle_seed: Optional[int] = None,
    shuffle_buffer: int = 0,
    endpoints: Optional[Sequence[int]] = None,
    plan: Optional[Plan] = None,
    progress: bool = False,
    timeout: Optional[float] = None,
    stall_timeout: Optional[float] = DEFAULT_STALL_TIMEOUT,
    on_batch: Optional[BatchCallback] = None,
    stats: Optional[ReadStats] = None,
    transforms: Any = None,
    tensor: Any = None,
    fast_resize: bool = False,
    **selection: Any,
) -> Iterator[pa.RecordBatch]:
    """Streams an image folder as pyarrow RecordBatches, as they arrive.

    Plans at once (GetFlightInfo: errors such as :class:`PathNotFound` are raised by this
    call), then reads the endpoints in parallel threads when iterated, with the failover,
    resume and stall watchdog of :func:`read_images`. Memory is bounded: at most
    ``max_in_flight`` record batches are held at a time (received or being received and
    not yet consumed, the batch last yielded included until the next is asked for); the
    reading threads wait for the consumer. A batch holds up to the worker's
    ``--batch-bytes`` (default 8 MiB) of decoded pixels, or one larger image.

    Order: ``shuffle=False`` gives the order of :func:`read_images` (endpoint order, path
    order within an endpoint). ``shuffle=True`` shuffles the endpoints and interleaves
    their batches at random, and with ``shuffle_buffer=N`` also the rows through a buffer
    of N rows (memory: up to about 2 N rows more); the order is a function of
    ``shuffle_seed`` (a random seed when ``None``) and of the batches the server sent.

    The read options are those of :func:`read_images` (``seed`` is the *sampling* seed of
    ``sample_ratio``). Besides:

    Args:
      max_workers: endpoints read at once (default ``min(#endpoints, max(4, 2 * cores))``).
      max_in_flight: batches held at most; -1 (default): ``2 * max_workers``
        (:data:`IN_FLIGHT_PER_STREAM` per stream); ``None``: unbounded. Fewer than
        ``max_workers`` limits how many streams receive at once.
      shuffle, shuffle_seed, shuffle_buffer: see above.
      endpoints: read only these endpoint indices of the plan (sharding).
      plan: a :class:`Plan` from :func:`get_plan` to read instead of planning (``path``
        and the read options are then ignored; pass ``path=None``).
      stats: :class:`ReadStats` filled in place, ``peak_in_flight`` included.
      transforms, tensor, fast_resize: the workers' image stages and tensor column, as
        in :func:`read_images`.

    Closing the iterator early (``break``, ``close()``) cancels the open streams.
    """
    check_selection(iter_batches, selection)
    timeout = _check_common(coordinator, timeout, stall_timeout, on_batch, stats)
    stall_timeout = _check_stall_timeout(stall_timeout)
    if shuffle_seed is not None:
        shuffle_seed = _as_int("shuffle_seed", shuffle_seed)
    if plan is None:
        command = build_command(path, recursive, num_partitions, drop_image_failures,
                                sample_ratio, seed, transforms=transforms, tensor=tensor,
                                fast_resize=fast_resize, **selection)
        _check(1, max_workers, max_in_flight, shuffle_buffer)  # before the network call
        plan = get_plan(command, coordinator, timeout=timeout)
    elif not isinstance(plan, Plan):
        raise InvalidArgument(f"plan must be an imageflight.Plan, got {plan!r}")
    return iter_plan(plan, endpoints=endpoints, max_workers=max_workers,
                     max_in_flight=max_in_flight, shuffle=_as_bool("shuffle", shuffle),
                     shuffle_seed=shuffle_seed, shuffle_buffer=shuffle_buffer,
                     timeout=timeout, stall_timeout=stall_timeout, on_batch=on_batch,
                     stats=stats, progress=progress)
