"""The pkg/transform goldens still are what cv2 computes.

pkg/transform's Go tests compare Go's output with the committed goldens;
this test closes the loop by re-running the cv2 oracle (SynapseML's stages as
gen_transform_golden.py expresses them) on the committed inputs and failing
if any committed output differs, e.g. after an OpenCV upgrade changed a
rounding. Regenerate with test/python/gen_transform_golden.py and re-run the
Go tests when that happens.
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


def _load(kind: str, name: str, dtype=np.uint8) -> np.ndarray:
    return np.fromfile(os.path.join(gen.OUT, kind, name + ".bin"), dtype=dtype)


INPUTS = {name: gen.committed_input(name) for name in MANIFEST["inputs"]}


@pytest.mark.parametrize("name", sorted(MANIFEST["inputs"]))
def test_cases_match_cv2(name):
    blob = _load("outputs", name)
    cases = [c for c in MANIFEST["cases"] if c["input"] == name]
    assert cases, name
    bad = []
    for c in cases:
        out = gen.run(INPUTS[name], c["stages"])
        assert gen.shape3(out) == c["shape"], c
        n = out.size
        want = blob[c["offset"]:c["offset"] + n]
        if not np.array_equal(np.ascontiguousarray(out).reshape(-1), want):
            diff = np.abs(out.reshape(-1).astype(int) - want.astype(int))
            bad.append(f"{c['stages']}: {int((diff > 0).sum())} values differ, max {int(diff.max())}")
    assert not bad, f"cv2 {cv2.__version__} drifted from goldens made with {MANIFEST['opencv']}:\n" + "\n".join(bad)


def test_tensors_match_numpy():
    for c in MANIFEST["tensors"]:
        want = _load("tensor", c["input"], "<f8")
        n = int(np.prod(c["shape"]))
        got = gen.to_tensor(INPUTS[c["input"]], c["params"]).reshape(-1)
        np.testing.assert_array_equal(got, want[c["offset"] // 8:c["offset"] // 8 + n])


def test_oracle_quirks():
    """The SynapseML quirks the oracle encodes, checked on cv2 directly."""
    img = np.zeros((9, 9), np.uint8)
    img[4, 4] = 255
    # gaussiankernel: a k x 1 kernel through filter2D blurs columns only
    out = gen.apply_stage(img, {"action": "gaussiankernel", "apertureSize": 5, "sigma": 0})
    assert (out[:, 4] > 0).sum() == 5 and (out[4, :] > 0).sum() == 1
    # blur: SynapseML's "height" is the kernel width
    out = gen.apply_stage(img, {"action": "blur", "height": 3, "width": 1})
    assert (out[4, :] > 0).sum() == 3 and (out[:, 4] > 0).sum() == 1
