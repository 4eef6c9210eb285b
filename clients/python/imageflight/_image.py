"""Spark's image struct: its Arrow type, and one row's pixels as a numpy array."""

from __future__ import annotations

from typing import Any, Dict

import pyarrow as pa

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
