"""Transforms and tensors applied by real workers, checked against OpenCV itself applied to
the same decoded rows (opencv-python-headless), and tensors against numpy computing
SynapseML's formula. Stage-by-stage fidelity on many shapes is in pkg/transform's goldens
(test_transform_opencv.py); this checks the pipeline end to end: descriptor → ticket →
worker → Arrow → client, and the Spark source."""

from __future__ import annotations

import cv2
import numpy as np
import pyarrow as pa
import pytest

import imageflight
from imageflight import Tensor, Transforms

PIPELINES = {
    "resize-centercrop": Transforms().resize(24, keep_aspect_ratio=True).centercrop(24, 24),
    "resize-exact": Transforms().resize(17, 23),
    "flip-blur": Transforms().resize(32, 32).flip(-1).blur(3, 5),
    "gray-threshold": Transforms().resize(20, 20).colorformat(6).threshold(100, 255, 0),
    "gaussian": Transforms().resize(16, 16).gaussiankernel(5, 1.5),
}


def _cv2(img: np.ndarray, stages) -> np.ndarray:
    for st in stages:
        a = st["action"]
        if a == "resize":
            if "size" in st:
                h, w = img.shape[:2]
                if st["keepAspectRatio"]:
                    r = st["size"] / min(h, w)
                    h, w = int(np.floor(r * h + 0.5)), int(np.floor(r * w + 0.5))
                else:
                    h = w = st["size"]
            else:
                h, w = st["height"], st["width"]
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        elif a == "centercrop":
            h, w = img.shape[:2]
            ch, cw = min(st["height"], h), min(st["width"], w)
            y, x = h // 2 - ch // 2, w // 2 - cw // 2
            img = img[y:y + ch, x:x + cw]
        elif a == "flip":
            img = cv2.flip(img, st["flipCode"])
        elif a == "blur":
            img = cv2.blur(img, (st["height"], st["width"]))  # SynapseML: Size(height, width)
        elif a == "colorformat":
            img = cv2.cvtColor(img, st["format"])
        elif a == "threshold":
            _, img = cv2.threshold(img, st["threshold"], st["maxVal"], st["type"])
        elif a == "gaussiankernel":
            k = cv2.getGaussianKernel(st["apertureSize"], st["sigma"])
            img = cv2.filter2D(img, -1, k)
        if img.ndim == 2:
            img = img[:, :, None]
    return img


def _rows(table):
    img = table.column("image").combine_chunks()
    out = {}
    for o, h, w, c, d in zip(*(img.field(k).to_pylist() for k in ("origin", "height", "width", "nChannels", "data"))):
        if h > 0:
            out[o] = np.frombuffer(d, np.uint8).reshape(h, w, c)
    return out


@pytest.fixture(scope="module")
def originals(coordinator, corpus):
    return _rows(imageflight.read_images(corpus.images, coordinator=coordinator, recursive=True,
                                         drop_image_failures=True))


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_pipeline_matches_opencv(name, coordinator, corpus, originals):
    t = PIPELINES[name]
    got = _rows(imageflight.read_images(corpus.images, coordinator=coordinator, recursive=True,
                                        drop_image_failures=True, transforms=t))
    # BGR2GRAY needs 3 or 4 channels, in OpenCV too: gray images fail (dropped here).
    applicable = {o: src for o, src in originals.items() if not (name == "gray-threshold" and src.shape[2] == 1)}
    assert got.keys() == applicable.keys()
    identical = total = 0
    for origin, src in applicable.items():
        want = _cv2(src.copy(), t.stages)
        g = got[origin]
        assert g.shape == want.shape, (origin, g.shape, want.shape)
        identical += int((g == want).sum())
        total += g.size
    assert total > 0 and identical == total, f"{name}: {identical}/{total} values identical"


def test_stage_that_cannot_apply_makes_an_invalid_row(coordinator, corpus, originals):
    t = imageflight.read_images(corpus.images, coordinator=coordinator, recursive=True,
                                transforms=Transforms().colorformat(8))  # GRAY2BGR: gray only
    img = t.column("image").combine_chunks()
    for o, h, c in zip(*(img.field(k).to_pylist() for k in ("origin", "height", "nChannels"))):
        if o in originals:
            want = 3 if originals[o].shape[2] == 1 else -1
            assert c == want, (o, h, c)


def test_tensor_matches_synapseml_formula(coordinator, corpus, originals):
    mean, std, scale = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 1 / 255
    t = Transforms().resize(20, keep_aspect_ratio=True).centercrop(20, 20)
    table = imageflight.read_images(corpus.images, coordinator=coordinator, recursive=True,
                                    drop_image_failures=True, transforms=t,
                                    tensor=Tensor(normalize_mean=mean, normalize_std=std,
                                                  color_scale_factor=scale, auto_convert_to_color=True))
    col = table.column("tensor").combine_chunks()
    assert isinstance(col.type, pa.FixedShapeTensorType) and list(col.type.shape) == [3, 20, 20]
    tensors = col.to_numpy_ndarray()
    assert tensors.shape == (table.num_rows, 3, 20, 20) and tensors.dtype == np.float32
    pixels = _rows(table)
    origins = table.column("image").combine_chunks().field("origin").to_pylist()
    for i, o in enumerate(origins):
        px = pixels[o]
        if px.shape[2] == 1:
            px = np.repeat(px, 3, axis=2)  # autoConvertToColor: gray made 3 equal channels
        rgb = px[:, :, 2::-1].astype(np.float64)  # alpha dropped, BGR -> RGB
        want = ((rgb * scale - mean) / std).transpose(2, 0, 1)
        assert np.abs(tensors[i] - want).max() <= 1e-6, o


def test_schema_and_errors(coordinator, corpus):
    from imageflight import client as C

    cmd = C.build_command(corpus.images, recursive=True, transforms=Transforms().resize(8, 8), tensor=True)
    plan = C.get_plan(cmd, coordinator)
    assert plan.schema.names[:2] == ["image", "tensor"]
    with pytest.raises(imageflight.InvalidArgument, match=r"transforms\[1\]\.height"):
        imageflight.read_images(corpus.images, coordinator=coordinator,
                                transforms=[{"action": "flip", "flipCode": 1},
                                            {"action": "resize", "height": -3, "width": 4}])
    with pytest.raises(imageflight.InvalidArgument, match="tensor"):
        imageflight.read_images(corpus.images, coordinator=coordinator, tensor=True)


def test_spark_source_with_transforms_and_tensor(spark, coordinator, corpus):
    import json

    def read(tensor):
        return (spark.read.format("imageflight").option("coordinator", coordinator)
                .option("recursive", "true").option("dropInvalid", "true")
                .option("transforms", json.dumps(Transforms().resize(12, 12).to_json()))
                .option("tensor", tensor).load(corpus.images))

    df = read("true")
    assert df.schema["tensor"].dataType.simpleString() == "array<float>"
    rows = df.select("image.height", "image.width", "image.nChannels", "tensor").collect()
    assert rows and all(r.height == 12 and r.width == 12 for r in rows)
    # SynapseML's default autoConvertToColor=false: a gray image's 1x12x12 tensor is null
    # in the 3-channel column
    assert all((r.tensor is None) == (r.nChannels == 1) for r in rows), [(r.nChannels, r.tensor is None) for r in rows]
    assert any(r.nChannels == 1 for r in rows)
    assert all(len(r.tensor) == 3 * 12 * 12 for r in rows if r.tensor is not None)
    rows = read(json.dumps({"autoConvertToColor": True})).select("tensor").collect()
    assert rows and all(len(r.tensor) == 3 * 12 * 12 for r in rows)
