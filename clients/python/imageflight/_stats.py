"""Counters of a read (:class:`ReadStats`) and the progress display built on them."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Tuple

import pyarrow as pa
import pyarrow.compute as pc

from ._errors import _clean

#: The ``reason`` of a failed image when the server sends no ``failure`` column.
REASON_IN_WORKER_LOG = "undecodable or unreadable; the reason is in the worker's log"

#: Name of the optional per-row column with why an image failed (a future server column;
#: read when present).
FAILURE_COLUMN = "failure"


class FailedImage(NamedTuple):
    """A file that gave Spark's invalid row (height -1): its origin and why."""

    origin: Optional[str]
    reason: str


def failed_images(batch) -> List[FailedImage]:
    """The invalid rows (``image.height == -1``) of a batch or table, with their reason:
    the ``failure`` column's value when the server sends one, else
    :data:`REASON_IN_WORKER_LOG`. With ``drop_image_failures`` the server drops such files
    and none are seen."""
    names = batch.schema.names
    if "image" not in names or batch.num_rows == 0:
        return []
    img = batch.column(names.index("image"))
    if isinstance(img, pa.ChunkedArray):
        img = img.combine_chunks()
    heights = img.field("height")
    mask = pc.fill_null(pc.equal(heights, -1), False)
    if not pc.any(mask).as_py():
        return []
    origins = pc.filter(img.field("origin"), mask).to_pylist()
    if FAILURE_COLUMN in names:
        reasons = pc.filter(batch.column(names.index(FAILURE_COLUMN)), mask).to_pylist()
        reasons = [str(r) if r else REASON_IN_WORKER_LOG for r in reasons]
    else:
        reasons = [REASON_IN_WORKER_LOG] * len(origins)
    return [FailedImage(o, r) for o, r in zip(origins, reasons)]


@dataclass
class ReadStats:
    """Counters of one read, filled in place (thread-safe) by :func:`read_images`,
    :func:`read_plan` and :class:`EndpointReader` when passed as ``stats=``.

    ``failovers``: locations given up before they sent a row (the next one served the whole
    split); ``resumes``: streams continued on another location with ``;skip=N`` after rows
    had arrived; ``stalls``: streams cancelled because a location sent nothing for
    ``stall_timeout`` seconds; ``errors``: ``(endpoint index, location, message)`` of every
    failed attempt; ``rows_by_location``: rows received from each location;
    ``failed``: every invalid row received (:class:`FailedImage`: origin and reason -- the
    server's ``failure`` column when it sends one, else "... in the worker's log");
    ``peak_in_flight``: most batches held at once by :func:`~imageflight.iter_batches`.
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
    failed: List[FailedImage] = field(default_factory=list)
    peak_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _batch(self, location: str, batch: pa.RecordBatch) -> None:
        failed = failed_images(batch)
        with self._lock:
            self.failed.extend(failed)
            self.rows += batch.num_rows
            self.batches += 1
            self.bytes += batch.nbytes
            self.rows_by_location[location] = self.rows_by_location.get(location, 0) + batch.num_rows

    def __getstate__(self):  # picklable (e.g. inside a dataset sent to spawned workers)
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _in_flight(self, n: int) -> None:
        if n > self.peak_in_flight:  # called under the reader's lock
            self.peak_in_flight = n

    def _add(self, counter: str, endpoint: int, location: str, err: BaseException) -> None:
        with self._lock:
            if counter:
                setattr(self, counter, getattr(self, counter) + 1)
            self.errors.append((endpoint, location, _clean(err)))


class _Progress:
    """Images handed to the consumer, counted when they are handed over (not when they
    arrive: batches read ahead are not progress), out of the plan's file count when it is
    known; splits done, MB received and resumes beside. A tqdm bar when tqdm is
    installed, else one ``\\r``-updated stderr line."""

    def __init__(self, splits: int, total: Optional[int], enabled: bool, stats: ReadStats):
        self.enabled = enabled
        self.splits = splits
        self.total = total
        self.stats = stats
        self.done = 0  # splits finished
        self.images = 0  # rows handed to the consumer
        self.lock = threading.Lock()
        self.bar = None
        self.last = 0.0
        if enabled:
            try:
                from tqdm.auto import tqdm  # type: ignore

                self.bar = tqdm(total=total, unit="img", desc="imageflight")
            except ImportError:
                self.bar = None

    def consumed(self, rows: int) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.images += rows
            if self.bar is not None:
                self.bar.set_postfix(self._post(), refresh=False)
                self.bar.update(rows)  # draws the postfix too
            else:
                self._line(False)

    def split_done(self) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.done += 1

    def _post(self) -> Dict[str, object]:
        s = self.stats
        post: Dict[str, object] = dict(splits=f"{self.done}/{self.splits}", MB=round(s.bytes / 1e6, 1))
        if s.resumes:
            post["resumed"] = s.resumes
        if s.failovers:
            post["failed_over"] = s.failovers
        return post

    def _line(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.5:
            return
        self.last = now
        of = f"/{self.total}" if self.total is not None else ""
        extra = "".join(f", {v} {k.replace('_', ' ')}" for k, v in self._post().items()
                        if k not in ("splits", "MB"))
        sys.stderr.write(f"\rimageflight: {self.images}{of} images, {self.done}/{self.splits} "
                         f"splits, {self.stats.bytes / 1e6:.1f} MB{extra}")
        sys.stderr.flush()

    def close(self, finished: bool) -> None:
        """Ends the display; a finished read that dropped images ends at its real count."""
        if not self.enabled:
            return
        with self.lock:
            if self.bar is not None:
                if finished and self.total is not None and self.images != self.total:
                    self.bar.total = self.images
                self.bar.set_postfix(self._post(), refresh=False)
                self.bar.close()
                return
            if finished and self.total is not None:
                self.total = self.images
            self._line(True)
            sys.stderr.write("\n")
            sys.stderr.flush()
