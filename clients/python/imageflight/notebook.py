"""Thumbnails of image rows in notebooks: :func:`show` renders a table, batch, image column,
pandas or Spark DataFrame of Spark image rows as an HTML grid of thumbnails (inline PNG
``data:`` URIs: nothing is fetched, so it works offline and in saved notebooks), labelled
with each file's name and its partition values, every text escaped. Under IPython/Jupyter,
``import imageflight`` also registers this grid as the HTML display of ``pyarrow.Table`` and
``RecordBatch`` objects that hold an ``image`` column (other tables keep pyarrow's display),
the way Databricks' ``display()`` shows images.

Thumbnails are made here from the rows' pixels (nearest-neighbour, longer side to ``size``),
so read with a resize transform to keep large images from crossing the network at all.
"""

from __future__ import annotations

import base64
import html
import struct
import sys
import zlib
from typing import Any, List, Optional, Tuple

import pyarrow as pa

from ._image import _pixels

#: Rows shown when ``n`` is not given.
DEFAULT_ROWS = 24
#: Longer side of a thumbnail, in pixels.
DEFAULT_SIZE = 128


class Gallery:
    """An HTML thumbnail grid; Jupyter shows it through ``_repr_html_``."""

    def __init__(self, html_text: str, shown: int, total: Optional[int]):
        self.html = html_text
        self.shown = shown
        self.total = total

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        more = f" of {self.total}" if self.total is not None else ""
        return f"<imageflight.Gallery: {self.shown}{more} rows>"


def show(obj: Any, n: int = DEFAULT_ROWS, size: int = DEFAULT_SIZE) -> Gallery:
    """A thumbnail grid of the first ``n`` image rows of ``obj``: a ``pyarrow.Table`` or
    ``RecordBatch`` with an ``image`` column, the ``image`` column itself, a pandas
    DataFrame, or a Spark DataFrame (only ``n`` rows are collected: ``limit(n)``)."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    table, total = _as_table(obj, n)
    return Gallery(_grid(table.slice(0, n), size, total), min(n, table.num_rows), total)


def _as_table(obj: Any, n: int) -> Tuple[pa.Table, Optional[int]]:
    if isinstance(obj, pa.Table):
        return obj, obj.num_rows
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj]), obj.num_rows
    if isinstance(obj, (pa.Array, pa.ChunkedArray)):
        return pa.table({"image": obj}), len(obj)
    if hasattr(obj, "sparkSession") and hasattr(obj, "limit"):  # pyspark.sql.DataFrame
        limited = obj.limit(n)
        if hasattr(limited, "toArrow"):  # Spark >= 4.0
            return limited.toArrow(), None
        return pa.Table.from_pandas(limited.toPandas(), preserve_index=False), None
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):  # pandas.DataFrame
        head = obj.head(n)
        return pa.Table.from_pylist(head.to_dict("records")), len(obj)
    raise TypeError(f"show: cannot show {type(obj).__name__}; pass a pyarrow Table or RecordBatch, "
                    "an image column, or a pandas or Spark DataFrame")


def _cell(img: dict, labels: List[str], failure: Optional[str], size: int) -> str:
    origin = img.get("origin") or ""
    name = origin.rsplit("/", 1)[-1] or origin
    caption = "".join(f"<div>{html.escape(t)}</div>" for t in [name, *labels])
    title = html.escape(origin, quote=True)
    h = img.get("height")
    if h is None or h < 0:
        why = failure or "undecodable (read with failureReasons for the reason)"
        return (f'<figure class="if-thumb if-invalid" title="{title}" style="margin:0;width:{size}px">'
                f'<div style="width:{size}px;height:{size}px;background:#eee;color:#b3261e;'
                f'font-size:11px;overflow:hidden">invalid: {html.escape(why)}</div>'
                f'<figcaption style="font-size:11px;overflow:hidden">{caption}</figcaption></figure>')
    uri = "data:image/png;base64," + base64.b64encode(thumbnail_png(img, size)).decode("ascii")
    return (f'<figure class="if-thumb" title="{title}" style="margin:0;width:{size}px">'
            f'<img src="{uri}" alt="{html.escape(name, quote=True)}" style="display:block;max-width:{size}px">'
            f'<figcaption style="font-size:11px;overflow:hidden">{caption}</figcaption></figure>')


def _grid(table: pa.Table, size: int, total: Optional[int]) -> str:
    if "image" not in table.schema.names:
        raise TypeError(f"show: no 'image' column (columns: {table.schema.names})")
    images = table.column("image").to_pylist()
    labels = [c for c in table.schema.names if c not in ("image", "failure", "tensor")]
    label_values = {c: table.column(c).to_pylist() for c in labels}
    failures = table.column("failure").to_pylist() if "failure" in table.schema.names else [None] * len(images)
    cells = []
    for i, img in enumerate(images):
        if img is None:
            continue
        tags = [f"{c}={label_values[c][i]}" for c in labels]
        cells.append(_cell(img, tags, failures[i], size))
    shown = f"{len(cells)} of {total} rows" if total is not None else f"{len(cells)} rows"
    return (f'<div class="imageflight-gallery"><div style="font-size:12px;color:#555">{html.escape(shown)}</div>'
            f'<div style="display:flex;flex-wrap:wrap;gap:6px">{"".join(cells)}</div></div>')


def thumbnail_png(img: dict, size: int) -> bytes:
    """PNG bytes of one image row shrunk (nearest neighbour) so its longer side is at most
    ``size``; colour rows in RGB(A) order, gray rows as gray."""
    import numpy as np

    data = img["data"]
    arr = _pixels(int(img["height"]), int(img["width"]), int(img["nChannels"]), img.get("mode"),
                  data, img.get("origin"), True, None)
    if arr.dtype != np.uint8:
        arr = (arr >> 8).astype(np.uint8)  # 16-bit modes: the high byte
    h, w = arr.shape[:2]
    scale = min(1.0, size / max(h, w))
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    ys = (np.arange(th) * h // th)
    xs = (np.arange(tw) * w // tw)
    return encode_png(np.ascontiguousarray(arr[ys][:, xs]))


def encode_png(arr) -> bytes:
    """A PNG of an (H, W, C) uint8 array, C = 1 (gray), 3 (RGB) or 4 (RGBA); stdlib only."""
    h, w, c = arr.shape
    colour = {1: 0, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + arr[y].tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def _html_for_arrow(obj: Any) -> Optional[str]:
    """IPython's HTML formatter for Tables and RecordBatches: a grid when ``obj`` holds image
    rows, else None (IPython then uses pyarrow's own display)."""
    field = obj.schema.field("image") if "image" in obj.schema.names else None
    if field is None or not pa.types.is_struct(field.type) or field.type.get_field_index("data") < 0:
        return None
    return show(obj).html


def enable_notebook(ip: Any = None) -> bool:
    """Registers the thumbnail grid as the HTML display of pyarrow Tables and RecordBatches
    holding image rows, in the running IPython (or ``ip``). Returns whether it did; called
    by ``import imageflight`` when IPython is running."""
    if ip is None:
        ipython = sys.modules.get("IPython")
        ip = ipython.get_ipython() if ipython is not None else None
    if ip is None:
        return False
    formatter = ip.display_formatter.formatters["text/html"]
    for cls in (pa.Table, pa.RecordBatch):
        formatter.for_type(cls, _html_for_arrow)
    return True
