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
(docs/protocol.md, "Resuming a stream"); the rows already received are
kept, so the result has every row exactly once. The seam is
:meth:`EndpointReader._resume_ticket`. If the server sent no ``next`` (or resuming is
disabled), a failure after the first batch raises :class:`StreamInterrupted`.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, List, Optional

import pyarrow as pa

# The pieces live in private modules named for what they provide; this module is the
# public API and re-exports them, so ``imageflight.client.X`` keeps working (spark.py
# also reads _as_float and _check_stall_timeout from here).
from ._connections import connect
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
from ._image import IMAGE_FIELDS, IMAGE_STRUCT, to_numpy
from ._options import _as_float, _as_int, _check_stall_timeout, build_command
from ._plan import DEFAULT_COORDINATOR, Endpoint, Plan, get_plan
from ._stats import ReadStats, _Progress
from ._stream import (
    DEFAULT_STALL_TIMEOUT,
    BatchCallback,
    EndpointReader,
    read_endpoint,
)

__all__ = [
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
    transforms: Any = None,
    tensor: Any = None,
    fast_resize: bool = False,
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
      transforms: SynapseML ImageTransformer stages the workers apply to every image
        (:class:`~imageflight.Transforms`, or a list of stage dicts); rows describe the
        transformed pixels.
      tensor: add a ``tensor`` column (Arrow fixed_shape_tensor, C×H×W) with SynapseML's
        toTensor arithmetic: :class:`~imageflight.Tensor`, a dict of its parameters, or
        ``True`` for the defaults. Needs transforms that fix every image's size.
      fast_resize: decode JPEGs at reduced scale when the first stage shrinks them 2× or
        more (faster; pixels differ slightly from decode + resize, docs/transforms.md).
    """
    command = build_command(path, recursive, num_partitions, drop_image_failures, sample_ratio, seed,
                            transforms=transforms, tensor=tensor, fast_resize=fast_resize)
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
