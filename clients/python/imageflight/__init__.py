"""imageflight: read image folders (local or HDFS) through an imageflight cluster.

Rows follow Apache Spark's image schema (``image`` struct: origin, height, width,
nChannels, mode, data in BGR(A) order) plus ``key=value`` partition columns.

- :func:`read_images` -> ``pyarrow.Table`` (endpoints fetched in parallel, with failover)
- :func:`iter_batches` -> ``pyarrow.RecordBatch`` stream, bounded memory, optional shuffle
- :func:`get_plan` / :func:`read_plan` / :func:`iter_plan`: plan once, read later (a
  :class:`Plan` is plain picklable data: tickets are bytes)
- :func:`to_numpy` -> pixels as ``numpy`` arrays (one row, or a whole table/batch/column);
  :func:`labels_to_indices` -> class indices with a stable mapping
- :func:`show` -> a thumbnail grid of image rows for notebooks (tables, batches, pandas and
  Spark DataFrames); under IPython, tables of image rows display as that grid
- :mod:`imageflight.spark` -> Spark 4 Python data source ``"imageflight"`` (extra ``spark``)
- :mod:`imageflight.torch` -> a PyTorch ``IterableDataset`` (extra ``torch``)

``imageflight.spark`` and ``imageflight.torch`` are imported on first use of the attribute,
so ``import imageflight`` needs only pyarrow.
"""

import importlib as _importlib

from .client import (
    COORDINATOR_ENV,
    DEFAULT_COORDINATOR,
    IN_FLIGHT_PER_STREAM,
    REASON_IN_WORKER_LOG,
    Endpoint,
    FailedImage,
    ImageFlightError,
    InvalidArgument,
    PathNotFound,
    PermissionDenied,
    Plan,
    PlanExpired,
    ReadStats,
    StallTimeout,
    StreamInterrupted,
    Unavailable,
    build_command,
    close_connections,
    get_plan,
    iter_batches,
    iter_plan,
    labels_to_indices,
    read_images,
    read_plan,
    to_numpy,
)

from .notebook import Gallery, enable_notebook, show
from .transforms import Model, Tensor, Transforms

__version__ = "0.1.0"

__all__ = [
    "COORDINATOR_ENV",
    "DEFAULT_COORDINATOR",
    "IN_FLIGHT_PER_STREAM",
    "REASON_IN_WORKER_LOG",
    "Endpoint",
    "FailedImage",
    "Gallery",
    "ImageFlightError",
    "InvalidArgument",
    "Model",
    "PathNotFound",
    "PermissionDenied",
    "Plan",
    "PlanExpired",
    "ReadStats",
    "StallTimeout",
    "StreamInterrupted",
    "Tensor",
    "Transforms",
    "Unavailable",
    "build_command",
    "close_connections",
    "enable_notebook",
    "get_plan",
    "iter_batches",
    "iter_plan",
    "labels_to_indices",
    "read_images",
    "read_plan",
    "show",
    "to_numpy",
]

_LAZY = ("spark", "torch")


def __getattr__(name):
    # ``imageflight.spark.register(spark)`` after a bare ``import imageflight``: the
    # optional submodules load on first access (their dependencies are extras).
    if name in _LAZY:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


enable_notebook()  # a no-op outside IPython
