"""resize's ``interpolation`` extension key, each against its own reference on the pixels the
worker decoded: ``area`` against cv2's INTER_AREA, ``antialias`` against torchvision's
Resize(antialias=True) on uint8 tensors (torch's interpolate(bilinear, antialias=True),
what torchvision calls). Real coordinator and worker; photo-like PNGs up to 1280x800.
Worst case must be >= 50 dB PSNR; the identical share is reported."""

from __future__ import annotations

import io
import math
import os

import numpy as np
import pytest
from PIL import Image

import imageflight
from conftest import REPORT
from corpus import photo
from servers import Cluster

cv2 = pytest.importorskip("cv2")
torch = pytest.importorskip("torch")

SIZES = [(800, 1280), (333, 517), (64, 64)]
TARGETS = [(224, 358), (100, 77), (31, 50), "half", (224, 224), (90, 300)]


@pytest.fixture(scope="module")
def photos(go_bins, workdir):
    d = os.path.join(workdir, "interpolation")
    os.makedirs(d)
    for i, (h, w) in enumerate(SIZES):
        buf = io.BytesIO()
        Image.fromarray(photo(h, w, 30 + i)).save(buf, "PNG", compress_level=1)
        with open(os.path.join(d, f"p{i}.png"), "wb") as f:
            f.write(buf.getvalue())
    cluster = Cluster(go_bins, d, workers=1)
    try:
        yield d, cluster
    finally:
        cluster.close()


def read(d, cluster, transforms):
    t = imageflight.read_images(d, coordinator=cluster.location, transforms=transforms)
    img = t.column("image").combine_chunks()
    out = {}
    for o, h, w, c, data in zip(*(img.field(k).to_pylist() for k in ("origin", "height", "width", "nChannels", "data"))):
        out[os.path.basename(o)] = np.frombuffer(data, np.uint8).reshape(h, w, c)
    return out


def reference(kind, src, th, tw):
    if kind == "area":
        return cv2.resize(src, (tw, th), interpolation=cv2.INTER_AREA)
    t = torch.from_numpy(src.copy()).permute(2, 0, 1)[None]
    o = torch.nn.functional.interpolate(t, size=(th, tw), mode="bilinear", antialias=True, align_corners=False)
    return o[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("kind", ["area", "antialias"])
def test_interpolation_against_its_reference(kind, photos):
    d, cluster = photos
    originals = read(d, cluster, None)
    worst, same, total = math.inf, 0, 0
    for target in TARGETS:
        for name, src in originals.items():
            th, tw = (src.shape[0] // 2, src.shape[1] // 2) if target == "half" else target
            got = read(d, cluster, [{"action": "resize", "height": th, "width": tw, "interpolation": kind}])[name]
            want = reference(kind, src, th, tw)
            assert got.shape == want.shape, (name, target)
            err = np.abs(got.astype(np.int64) - want.astype(np.int64))
            mse = float((err ** 2).mean())
            psnr = math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse)
            worst = min(worst, psnr)
            same += int((err == 0).sum())
            total += err.size
    REPORT.append(f"resize interpolation={kind}: worst PSNR {worst:.1f} dB against "
                  f"{'cv2 INTER_AREA' if kind == 'area' else 'torch interpolate(antialias=True)'}, "
                  f"{100 * same / total:.4f}% of {total} values identical")
    assert worst >= 50, f"{kind}: worst PSNR {worst:.1f} dB"


def test_interpolation_key_is_checked(photos):
    d, cluster = photos
    with pytest.raises(imageflight.InvalidArgument, match=r"transforms\[0\]\.interpolation"):
        read(d, cluster, [{"action": "resize", "height": 4, "width": 4, "interpolation": "cubic"}])
    # "linear" is SynapseML's INTER_LINEAR, the default
    a = read(d, cluster, [{"action": "resize", "height": 9, "width": 7, "interpolation": "linear"}])
    b = read(d, cluster, [{"action": "resize", "height": 9, "width": 7}])
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
