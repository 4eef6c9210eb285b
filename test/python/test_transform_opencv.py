"""cv2 4.x against the SynapseML goldens, on the stages whose arithmetic OpenCV 4.x kept
from 3.2 (SynapseML 1.1.0 runs OpenCV 3.2.0).

pkg/transform's goldens are SynapseML's own output (gen_transform_golden.py, through
test/synapseml/oracle.py); test_transforms_synapseml.py runs SynapseML live. This cheap
check re-expresses each such stage with cv2 (the same OpenCV call SynapseML makes) and
requires the committed goldens: resize (INTER_LINEAR and the 2x area path), crop,
centercrop, flip, threshold and the colour codes that do not go to gray, and the tensor
formula in numpy. Where 4.x changed the arithmetic it is not asked to agree: gray
coefficients (14-bit in 3.2, 15-bit in 4.x), BGR2BGRA on a BGRA image (3.2 swaps blue and
red), blur (3.2 divides boxes of up to 256 pixels with a 16-bit shift, 4.x a 23-bit one),
gaussiankernel (3.2's kernel for even sizes and 9 taps, no FMA) and any filter after a
crop; test_known_differences shows that it indeed differs there, so the split stays true.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

import gen_transform_golden as gen  # noqa: E402

with open(os.path.join(gen.OUT, "golden.json")) as f:
    MANIFEST = json.load(f)

INPUTS = {name: gen.committed_input(name) for name in MANIFEST["inputs"]}
SAME_IN_4X = {"resize", "crop", "centercrop", "flip", "threshold", "colorformat"}


def apply_stage(img: np.ndarray, st: dict) -> np.ndarray:
    """One SynapseML ImageTransformer stage, as SynapseML calls OpenCV."""
    a = st["action"]
    h, w = img.shape[:2]
    if a == "resize":
        if "size" in st:
            s = st["size"]
            if st["keepAspectRatio"]:
                ratio = 1.0 * s / min(w, h)
                # Scala math.round(Double) is floor(x + 0.5)
                tw, th = int(np.floor(ratio * w + 0.5)), int(np.floor(ratio * h + 0.5))
            else:
                tw, th = s, s
        else:
            tw, th = st["width"], st["height"]
        return cv2.resize(img, (tw, th))  # default INTER_LINEAR
    if a == "crop":
        x, y, ch, cw = st["x"], st["y"], st["height"], st["width"]
        return img[y:y + ch, x:x + cw].copy()
    if a == "centercrop":
        cw, ch = min(st["width"], w), min(st["height"], h)
        x, y = w // 2 - cw // 2, h // 2 - ch // 2
        return img[y:y + ch, x:x + cw].copy()
    if a == "colorformat":
        return cv2.cvtColor(img, st["format"])
    if a == "flip":
        return cv2.flip(img, st["flipCode"])
    if a == "blur":
        # SynapseML: Imgproc.blur(image, dst, new Size(height, width)); Size is
        # (width, height), so "height" is the kernel's width.
        return cv2.blur(img, (int(st["height"]), int(st["width"])))
    if a == "threshold":
        _, out = cv2.threshold(img, st["threshold"], st["maxVal"], st["type"])
        return out
    if a == "gaussiankernel":
        k = cv2.getGaussianKernel(st["apertureSize"], st["sigma"])  # n x 1, CV_64F
        return cv2.filter2D(img, -1, k)
    raise ValueError(a)


def run(img: np.ndarray, stages: list) -> np.ndarray:
    for st in stages:
        img = apply_stage(img, st)
    return img


def same_in_4x(img: np.ndarray, stages: list) -> bool:
    c = 1 if img.ndim == 2 else img.shape[2]
    for st in stages:
        if st["action"] not in SAME_IN_4X:
            return False
        if st["action"] == "colorformat":
            if st["format"] in (6, 7, 10, 11) or (st["format"] == 0 and c == 4):
                return False
            c = {8: 3, 9: 4, 0: 4, 2: 4, 5: 4}.get(st["format"], 3)
    return True


def _load(kind: str, name: str, dtype=np.uint8) -> np.ndarray:
    return np.fromfile(os.path.join(gen.OUT, kind, name + ".bin"), dtype=dtype)


def _differing(name, cases):
    blob = _load("outputs", name)
    bad = []
    for c in cases:
        out = run(INPUTS[name], c["stages"])
        if gen.shape3(out) != c["shape"]:
            bad.append(f"{c['stages']}: shape {gen.shape3(out)}, SynapseML {c['shape']}")
            continue
        want = blob[c["offset"]:c["offset"] + out.size]
        if not np.array_equal(np.ascontiguousarray(out).reshape(-1), want):
            diff = np.abs(out.reshape(-1).astype(int) - want.astype(int))
            bad.append(f"{c['stages']}: {int((diff > 0).sum())} values differ, max {int(diff.max())}")
    return bad


@pytest.mark.parametrize("name", sorted(MANIFEST["inputs"]))
def test_cv2_4x_agrees_where_the_arithmetic_is_the_same(name):
    cases = [c for c in MANIFEST["cases"] if c["input"] == name and same_in_4x(INPUTS[name], c["stages"])]
    assert cases, name
    bad = _differing(name, cases)
    assert not bad, f"cv2 {cv2.__version__} differs from SynapseML 1.1.0's goldens:\n" + "\n".join(bad)


def test_known_differences():
    """cv2 4.x does differ from SynapseML on each stage kind left out above."""
    kinds = {}
    for c in MANIFEST["cases"]:
        img, stages = INPUTS[c["input"]], c["stages"]
        if not same_in_4x(img, stages):
            # the first stage where 4.x's arithmetic departs from 3.2's
            first = next(st for k, st in enumerate(stages) if not same_in_4x(img, stages[:k + 1]))
            kinds.setdefault(first["action"], []).append(c)
    assert set(kinds) == {"blur", "gaussiankernel", "colorformat"}
    for action, cases in sorted(kinds.items()):
        differing = sum(len(_differing(c["input"], [c])) for c in cases)
        assert differing > 0, f"{action}: cv2 {cv2.__version__} agrees with SynapseML on all {len(cases)} cases"


def test_tensors_match_numpy():
    """SynapseML's toTensor arithmetic, in numpy: (v * scale - mean) / std in float64."""
    for c in MANIFEST["tensors"]:
        img, p = INPUTS[c["input"]], c["params"]
        if img.ndim == 2:
            chans = [img] * (3 if p.get("autoConvertToColor") else 1)
        else:
            bgr = img[:, :, :3]
            order = (2, 1, 0) if p.get("tensorChannelOrder", "RGB").lower() == "rgb" else (0, 1, 2)
            chans = [bgr[:, :, i] for i in order]
        n = len(chans)
        mean, std = p.get("normalizeMean", [0.0] * n), p.get("normalizeStd", [1.0] * n)
        scale = p.get("colorScaleFactor", 1.0)
        got = np.stack([((ch.astype(np.float64) * scale) - m) / s for ch, m, s in zip(chans, mean, std)])
        if p.get("tensorElementType", "float") == "float":
            got = got.astype(np.float32).astype(np.float64)
        want = _load("tensor", c["input"], "<f8")
        k = int(np.prod(c["shape"]))
        np.testing.assert_array_equal(got.reshape(-1), want[c["offset"] // 8:c["offset"] // 8 + k])


def test_oracle_quirks():
    """The SynapseML quirks the goldens encode, checked on cv2 directly."""
    img = np.zeros((9, 9), np.uint8)
    img[4, 4] = 255
    # gaussiankernel: a k x 1 kernel through filter2D blurs columns only
    out = apply_stage(img, {"action": "gaussiankernel", "apertureSize": 5, "sigma": 0})
    assert (out[:, 4] > 0).sum() == 5 and (out[4, :] > 0).sum() == 1
    # blur: SynapseML's "height" is the kernel width
    out = apply_stage(img, {"action": "blur", "height": 3, "width": 1})
    assert (out[4, :] > 0).sum() == 3 and (out[:, 4] > 0).sum() == 1
