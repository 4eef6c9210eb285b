"""Thumbnails in notebooks: imageflight.show() on a table read from a live server, on a
pandas and a Spark DataFrame; names and failure reasons escaped; and under a real IPython
shell, tables of image rows display themselves as the grid (registered at import)."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

import imageflight

HOSTILE = "<img src=x onerror=alert(1)>.jpg"


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.figures, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        if tag == "figure":
            self.figures.append(a)

    def handle_data(self, data):
        self.text.append(data)


def _parse(html_text: str) -> _Tags:
    p = _Tags()
    p.feed(html_text)
    return p


def _png(src: str) -> np.ndarray:
    assert src.startswith("data:image/png;base64,"), src[:40]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))


def _expected(row: dict, size: int) -> np.ndarray:
    """Nearest neighbour of the row's RGB pixels, longer side to size (the documented rule)."""
    arr = imageflight.to_numpy(row, rgb=True)
    h, w = arr.shape[:2]
    s = min(1.0, size / max(h, w))
    th, tw = max(1, round(h * s)), max(1, round(w * s))
    out = arr[np.arange(th) * h // th][:, np.arange(tw) * w // tw]
    return out[:, :, 0] if out.shape[2] == 1 else out


def test_show_table_from_server(coordinator, corpus):
    t = imageflight.read_images(corpus.images, coordinator=coordinator, recursive=True, failure_reasons=True)
    rows = t.column("image").to_pylist()
    valid = [r for r in rows if r["height"] >= 0]
    assert valid and len(valid) < len(rows)  # the corpus has broken files
    g = imageflight.show(t, n=t.num_rows, size=64)
    tags = _parse(g._repr_html_())
    assert len(tags.figures) == len(rows)
    assert len(tags.imgs) == len(valid)
    by_origin = {r["origin"]: r for r in valid}
    for fig, img in zip([f for f in tags.figures if "if-invalid" not in f["class"]], tags.imgs):
        got = _png(img["src"])
        want = _expected(by_origin[fig["title"]], 64)
        assert max(got.shape[:2]) <= 64
        np.testing.assert_array_equal(got, want, err_msg=fig["title"])
    text = " ".join(tags.text)
    assert "invalid:" in text and "cls=png" in text  # failure reasons and partition labels
    assert repr(g) == f"<imageflight.Gallery: {t.num_rows} of {t.num_rows} rows>"
    # n bounds the rows shown; a batch works the same.
    batch = t.to_batches()[0]
    assert len(_parse(imageflight.show(batch, n=3).html).figures) == min(3, batch.num_rows)


def _hostile_table() -> pa.Table:
    bgr = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])  # 2x2: blue, green, red, dark
    return pa.table({
        "image": [
            {"origin": "file:/d/" + HOSTILE, "height": 2, "width": 2, "nChannels": 3, "mode": 16, "data": bgr},
            {"origin": "file:/d/<b>bad</b>.png", "height": -1, "width": -1, "nChannels": -1, "mode": -1, "data": b""},
        ],
        "cls": ["<script>alert(2)</script>", "x"],
        "failure": [None, "<i>not a png</i>"],
    })


def test_show_escapes_every_name():
    html_text = imageflight.show(_hostile_table()).html
    for raw in ("<img src=x", "<script>", "<b>bad", "<i>not"):
        assert raw not in html_text, raw
    tags = _parse(html_text)
    assert len(tags.imgs) == 1 and tags.imgs[0]["alt"] == HOSTILE
    text = "".join(tags.text)
    assert HOSTILE in text and "cls=<script>alert(2)</script>" in text and "<i>not a png</i>" in text
    rgb = _png(tags.imgs[0]["src"])
    assert rgb[0, 0].tolist() == [0, 0, 255] and rgb[0, 1].tolist() == [0, 255, 0] and rgb[1, 0].tolist() == [255, 0, 0]


def test_show_pandas():
    df = _hostile_table().to_pandas()
    tags = _parse(imageflight.show(df).html)
    assert len(tags.figures) == 2 and len(tags.imgs) == 1


def test_ipython_displays_image_tables():
    """In a real IPython shell, importing imageflight registers the grid as the HTML display
    of tables and batches with image rows; other tables keep pyarrow's display."""
    pytest.importorskip("IPython", reason="IPython is in test/python/requirements.txt")
    code = """
from IPython.core.interactiveshell import InteractiveShell
sh = InteractiveShell.instance()
import pyarrow as pa
import imageflight
bgr = bytes(range(12))
t = pa.table({"image": [{"origin": "file:/x.png", "height": 2, "width": 2, "nChannels": 3, "mode": 16, "data": bgr}]})
html_t = sh.display_formatter.format(t)[0].get("text/html", "")
html_b = sh.display_formatter.format(t.to_batches()[0])[0].get("text/html", "")
other = sh.display_formatter.format(pa.table({"a": [1]}))[0].get("text/html", "")
print("gallery" if "imageflight-gallery" in html_t and "data:image/png" in html_t else "no-gallery")
print("gallery" if "imageflight-gallery" in html_b else "no-gallery")
print("plain" if "imageflight-gallery" not in other else "hijacked")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["gallery", "gallery", "plain"], res.stdout + res.stderr


def test_show_spark_dataframe(spark, coordinator, corpus):
    df = (spark.read.format("imageflight").option("coordinator", coordinator)
          .option("recursive", "true").load(corpus.images))
    g = imageflight.show(df, n=5, size=32)
    tags = _parse(g.html)
    assert len(tags.figures) == 5 and g.total is None
    assert all(max(_png(i["src"]).shape[:2]) <= 32 for i in tags.imgs)
