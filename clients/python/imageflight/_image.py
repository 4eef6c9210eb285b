"""Spark's image struct: its Arrow type; pixels as numpy arrays (one row or a whole
batch); label columns as class indices."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

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


def _image_column(obj: Any) -> Optional[pa.Array]:
    """The image structs of a Table / RecordBatch / (Chunked)Array, or None for a row."""
    if isinstance(obj, (pa.Table, pa.RecordBatch)):
        names = obj.schema.names
        if "image" not in names:
            raise TypeError(f"to_numpy: no 'image' column (columns: {names})")
        obj = obj.column(names.index("image"))
    if isinstance(obj, pa.ChunkedArray):
        obj = obj.combine_chunks() if obj.num_chunks != 1 else obj.chunk(0)
    if isinstance(obj, pa.Array):
        if not pa.types.is_struct(obj.type):
            raise TypeError(f"to_numpy: expected the image struct column, got {obj.type}")
        return obj
    return None


def _check_channels(channels: Optional[int]) -> None:
    if channels not in (None, 1, 3, 4):
        raise ValueError(f"channels must be None, 1, 3 or 4, got {channels!r}")


def _pixels(h: int, w: int, c: int, mode: Any, data: Any, origin: Any, rgb: bool,
            channels: Optional[int]):
    import numpy as np

    if h < 0 or w < 0 or c < 0:
        raise ValueError(f"invalid image row (undecodable file): {origin}")
    dtype = np.dtype(_MODE_DTYPES.get(int(mode), "u1") if mode is not None else "u1")
    arr = np.frombuffer(data, dtype=dtype)
    if arr.size != h * w * c:
        raise ValueError(
            f"image {origin}: {arr.nbytes} data bytes do not match {h}x{w}x{c} {dtype}"
        )
    arr = arr.reshape(h, w, c)
    want = channels if channels is not None else (3 if rgb and c == 1 else c)
    if want == 1 and c >= 3:
        # ITU-R BT.601 luma from B, G, R (Spark stores BGR), rounded.
        f = arr[:, :, :3].astype(np.float32)
        g = 0.114 * f[:, :, 0] + 0.587 * f[:, :, 1] + 0.299 * f[:, :, 2]
        return np.rint(g).astype(dtype)[:, :, None]
    if c == 1 and want in (3, 4):
        arr = np.repeat(arr, 3, axis=2)
        if want == 4:
            alpha = np.full((h, w, 1), np.iinfo(dtype).max, dtype)
            arr = np.concatenate([arr, alpha], axis=2)
        return arr  # gray: the same in BGR and RGB order
    if c == 3 and want == 4:
        alpha = np.full((h, w, 1), np.iinfo(dtype).max, dtype)
        arr = np.concatenate([arr, alpha], axis=2)
    elif c == 4 and want == 3:
        arr = arr[:, :, :3]
    if rgb and arr.shape[2] >= 3:
        order = [2, 1, 0] + list(range(3, arr.shape[2]))
        return arr[:, :, order].copy()
    return arr.copy()


def to_numpy(obj: Any, rgb: bool = False, channels: Optional[int] = None,
             stack: bool = True, invalid: str = "raise"):
    """Returns image pixels as numpy arrays.

    **One row** -- a row of :func:`read_images`' table (``table.to_pylist()[i]`` or its
    ``image`` dict, ``table.column("image")[i]``), a pandas row or its ``image`` dict, a
    ``pyspark.sql.Row`` (the row or its ``image`` field) -- gives one array of shape
    (height, width, channels).

    **Many rows** -- a ``pyarrow.Table`` or ``RecordBatch`` with an ``image`` column, or the
    ``image`` column itself (Array or ChunkedArray) -- gives one stacked array of shape
    (rows, height, width, channels) when every image has the same shape and ``stack`` is
    true, else a list of (height, width, channels) arrays (an empty list for no rows).

    Spark's layout is kept by default: uint8 (uint16 for 16-bit modes), channels B, G,
    R(, A); 1-channel images give (H, W, 1). ``rgb=True``: colour channels in R, G, B(, A)
    order, and gray images as 3 equal channels. ``channels``: 3 (gray repeated, alpha
    dropped), 4 (opaque alpha added), 1 (BT.601 luma) or ``None`` (as stored, or 3 for gray
    with ``rgb=True``). Arrays are writable copies. Invalid rows (height -1) raise
    ValueError naming the file (read with ``drop_image_failures=True`` to skip them).
    """
    _check_channels(channels)
    col = _image_column(obj)
    if col is None:
        img = _image_dict(obj)
        data = img["data"]
        if isinstance(data, pa.Scalar):
            data = data.as_py()
        return _pixels(int(img["height"]), int(img["width"]), int(img["nChannels"]),
                       img.get("mode"), data, img.get("origin"), rgb, channels)
    import numpy as np

    hs = col.field("height").to_pylist()
    ws = col.field("width").to_pylist()
    cs = col.field("nChannels").to_pylist()
    modes = col.field("mode").to_pylist()
    origins = col.field("origin").to_pylist()
    data = col.field("data")
    out = []
    for i in range(len(col)):
        if hs[i] is None or hs[i] < 0:
            if invalid == "none":
                out.append(None)
                continue
            if hs[i] is None:
                raise ValueError(f"null image row {i}")
        buf = data[i].as_buffer()
        out.append(_pixels(hs[i], ws[i], cs[i], modes[i], b"" if buf is None else buf,
                           origins[i], rgb, channels))
    if stack and out and all(a is not None and a.shape == out[0].shape and a.dtype == out[0].dtype
                             for a in out):
        return np.stack(out)
    return out


def labels_to_indices(column: Any, classes: Optional[Sequence[Any]] = None):
    """Maps a label column (e.g. the ``cls`` of ``cls=cat`` folders) to class indices.

    ``column``: a pyarrow Array / ChunkedArray, a pandas Series or a list. ``classes``:
    the mapping to use (index = position in the list); by default the sorted unique
    non-null values, so the same set of labels always gives the same indices. Returns
    ``(indices, classes)``: an int64 numpy array (-1 for nulls) and the list of classes.
    A value missing from a given ``classes`` raises ValueError.
    """
    import numpy as np
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        arr = column.combine_chunks()
    elif isinstance(column, pa.Array):
        arr = column
    elif hasattr(column, "to_list") and not isinstance(column, (list, tuple)):
        arr = pa.array(column.to_list())
    else:
        arr = pa.array(list(column))
    if classes is None:
        uniq = pc.unique(arr.drop_null())
        classes = sorted(uniq.to_pylist())
    else:
        classes = list(classes)
    value_set = pa.array(classes, type=arr.type if len(classes) else None)
    idx = pc.index_in(arr, value_set=value_set)
    missing = pc.and_(pc.is_null(idx), pc.is_valid(arr))
    if pc.any(missing).as_py():
        bad = sorted(set(pc.filter(arr, missing).to_pylist()), key=str)
        raise ValueError(f"labels_to_indices: values {bad[:10]} are not among the classes {classes[:20]}")
    out = np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return out, classes
