"""imageflight: read image folders (local or HDFS) through an imageflight cluster.

Rows follow Apache Spark's image schema (``image`` struct: origin, height, width,
nChannels, mode, data in BGR(A) order) plus ``key=value`` partition columns.

- :func:`read_images` -> ``pyarrow.Table`` (endpoints fetched in parallel, with failover)
- :func:`to_numpy` -> one row as a ``numpy`` HxWxC array
- :mod:`imageflight.spark` -> Spark 4 Python data source ``"imageflight"``
"""

from .client import (
    DEFAULT_COORDINATOR,
    ImageFlightError,
    InvalidArgument,
    PathNotFound,
    PermissionDenied,
    PlanExpired,
    ReadStats,
    StallTimeout,
    StreamInterrupted,
    Unavailable,
    read_images,
    to_numpy,
)

from .transforms import Tensor, Transforms

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_COORDINATOR",
    "ImageFlightError",
    "InvalidArgument",
    "PathNotFound",
    "PermissionDenied",
    "PlanExpired",
    "ReadStats",
    "StallTimeout",
    "StreamInterrupted",
    "Tensor",
    "Transforms",
    "Unavailable",
    "read_images",
    "to_numpy",
]
