#!/usr/bin/env python3
"""Writes the OpenCV goldens for pkg/transform (Go) under pkg/transform/testdata/.

The oracle is SynapseML's ImageTransformer re-expressed with cv2: each stage
calls the same OpenCV function with the same arguments SynapseML passes
(including its quirks: blur's swapped Size, gaussiankernel's column-only
filter2D). Go must reproduce these bytes; test_transform_opencv.py re-runs
this oracle on the committed inputs and fails if cv2 ever drifts from them.

Layout: testdata/golden.json lists inputs (raw row-major bytes, Spark's BGR /
BGRA / gray order, in inputs/NAME.bin) and cases (input name, stage list,
shape, and offset of the output in outputs/NAME.bin, which holds all outputs
of that input back to back). Tensor cases hold float64 values computed with
numpy the way SynapseML computes them (tensor/NAME.bin, little endian, same
offset scheme).

Usage: .venv/bin/python test/python/gen_transform_golden.py
"""
from __future__ import annotations

import json
import os

import cv2
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "pkg", "transform", "testdata")

# Real photos found on our machines: Go's own test data (BSD licence) and a
# crop of a photo from the Rust embedded book (MIT/Apache). Where a file is
# missing the committed input is reused, so the generator runs anywhere.
PHOTOS = [
    ("photo_video001", "/usr/local/go/src/image/testdata/video-001.jpeg", (20, 30, 57, 75)),
    ("photo_board", os.path.expanduser(
        "~/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html/embedded-book/assets/f3.jpg"),
     (180, 300, 64, 81)),
]


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
        assert x + cw <= w and y + ch <= h
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


def to_tensor(img: np.ndarray, p: dict) -> np.ndarray:
    """SynapseML toTensor: drop alpha, order channels, (v*scale-mean)/std, CxHxW."""
    order = p.get("tensorChannelOrder", "RGB").lower()
    if img.ndim == 2:
        chans = [img]
    else:
        bgr = img[:, :, :3]
        chans = [bgr[:, :, i] for i in ((2, 1, 0) if order == "rgb" else (0, 1, 2))]
    n = len(chans)
    mean = p.get("normalizeMean", [0.0] * n)
    std = p.get("normalizeStd", [1.0] * n)
    scale = p.get("colorScaleFactor", 1.0)
    out = np.stack([((c.astype(np.float64) * scale) - m) / s for c, m, s in zip(chans, mean, std)])
    if p.get("tensorElementType", "float") == "float":
        out = out.astype(np.float32).astype(np.float64)
    return out


def shape3(a: np.ndarray):
    return [a.shape[0], a.shape[1], 1 if a.ndim == 2 else a.shape[2]]


def make_inputs() -> dict:
    rng = np.random.default_rng(20240601)
    ins = {}

    def noise(name, h, w, c):
        shape = (h, w) if c == 1 else (h, w, c)
        ins[name] = rng.integers(0, 256, size=shape, dtype=np.uint8)

    noise("bgr_1x1", 1, 1, 3)
    noise("bgr_1x7", 1, 7, 3)
    noise("bgr_7x1", 7, 1, 3)
    noise("bgr_13x17", 13, 17, 3)
    noise("bgr_40x37", 40, 37, 3)
    noise("gray_9x11", 9, 11, 1)
    noise("gray_33x50", 33, 50, 1)
    noise("bgra_10x6", 10, 6, 4)
    noise("bgra_21x19", 21, 19, 4)
    # smooth gradient: interpolation rounding shows up on ramps, not only noise
    yy, xx = np.mgrid[0:31, 0:45]
    ins["bgr_grad_31x45"] = np.stack(
        [(xx * 255 // 44), (yy * 255 // 30), ((xx + yy) * 255 // 74)], axis=2).astype(np.uint8)
    for name, path, crop in PHOTOS:
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            ins[name] = committed_input(name)
            continue
        if crop:
            y, x, h, w = crop
            img = img[y:y + h, x:x + w]
        ins[name] = np.ascontiguousarray(img)
    ins["photo_gray"] = cv2.cvtColor(ins["photo_video001"], cv2.COLOR_BGR2GRAY)
    return ins


def committed_input(name: str) -> np.ndarray:
    with open(os.path.join(OUT, "golden.json")) as f:
        h, w, c = json.load(f)["inputs"][name]
    raw = np.fromfile(os.path.join(OUT, "inputs", name + ".bin"), dtype=np.uint8)
    return raw.reshape((h, w) if c == 1 else (h, w, c))


def R(**kw):
    return dict(action="resize", **kw)


def cases_for(name: str, img: np.ndarray) -> list:
    h, w = img.shape[:2]
    c = 1 if img.ndim == 2 else img.shape[2]
    cs = []
    # resize: up, down, non-integer ratios, exact 2x (OpenCV's INTER_AREA shortcut), 1x
    for th, tw in [(h * 2 + 1, w * 3), (max(1, h // 2), max(1, w // 2)), (max(1, h * 2 // 3), max(1, w * 3 // 5)),
                   (5, 7), (1, 1), (h, w), (h, w * 2), (max(1, h // 3), w)]:
        cs.append([R(height=th, width=tw)])
    if h % 2 == 0 and w % 2 == 0:
        cs.append([R(height=h // 2, width=w // 2)])
    if h % 4 == 0 and w % 4 == 0:
        cs.append([R(height=h // 4, width=w // 4)])
    cs.append([R(size=max(1, min(h, w) // 2 + 1), keepAspectRatio=True)])
    cs.append([R(size=7, keepAspectRatio=True)])
    cs.append([R(size=9, keepAspectRatio=False)])
    # crop touching the borders, and centercrop with clamping
    cs.append([dict(action="crop", x=0, y=0, height=h, width=w)])
    cs.append([dict(action="crop", x=w - 1, y=h - 1, height=1, width=1)])
    if h > 2 and w > 2:
        cs.append([dict(action="crop", x=1, y=h // 3, height=h - h // 3, width=w - 1)])
    cs.append([dict(action="centercrop", height=max(1, h - 1), width=max(1, w // 2))])
    cs.append([dict(action="centercrop", height=h + 5, width=3)])
    for code in (0, 1, -1):
        cs.append([dict(action="flip", flipCode=code)])
    for kh, kw in [(3, 3), (5, 3), (1, 4), (2, 2), (7, 7), (20, 20), (9, 31)]:
        cs.append([dict(action="blur", height=kh, width=kw)])
    for t, m, ty in [(127, 255, 0), (100.7, 200.5, 1), (90, 255, 2), (128.0, 0, 3), (60, 255, 4),
                     (-3, 17, 0), (255, 99, 1), (300, 255, 2), (-1, 255, 3), (254.9, 255, 4), (0.5, 254.5, 0)]:
        cs.append([dict(action="threshold", threshold=t, maxVal=m, type=ty)])
    for n, s in [(3, 0), (5, 1.3), (7, 0), (9, 0), (11, 0), (4, 1.0), (15, 2.5), (1, 0), (21, 0.4), (31, 6)]:
        cs.append([dict(action="gaussiankernel", apertureSize=n, sigma=s)])
    codes = {3: [0, 1, 2, 3, 4, 5, 6, 7, 10, 11], 4: [0, 1, 2, 3, 4, 5, 6, 7, 10, 11], 1: [8, 9]}[c]
    for code in codes:
        cs.append([dict(action="colorformat", format=code)])
    # chains, as a deep-learning pipeline would use them
    cs.append([R(size=11, keepAspectRatio=True), dict(action="centercrop", height=11, width=11),
               dict(action="flip", flipCode=1)])
    if c != 1:
        cs.append([dict(action="colorformat", format=6), R(height=h + 3, width=w + 2),
                   dict(action="blur", height=3, width=5), dict(action="threshold", threshold=100, maxVal=255, type=0)])
    return cs


TENSOR_INPUTS = ("bgr_13x17", "bgra_10x6", "gray_9x11", "bgr_40x37")
TENSOR_PARAMS = [
    {},
    {"tensorChannelOrder": "BGR", "tensorElementType": "double"},
    {"normalizeMean": [0.485, 0.456, 0.406], "normalizeStd": [0.229, 0.224, 0.225], "colorScaleFactor": 1 / 255},
    {"normalizeMean": [123.675, 116.28, 103.53], "normalizeStd": [58.395, 57.12, 57.375], "tensorChannelOrder": "rgb",
     "tensorElementType": "double"},
]


def main() -> None:
    os.makedirs(os.path.join(OUT, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "outputs"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "tensor"), exist_ok=True)
    ins = make_inputs()
    manifest = {"opencv": cv2.__version__, "inputs": {}, "cases": [], "tensors": []}
    for name, img in ins.items():
        with open(os.path.join(OUT, "inputs", name + ".bin"), "wb") as f:
            f.write(img.tobytes())
        manifest["inputs"][name] = shape3(img)
        # all outputs of one input share one file; a case names its offset
        blob = bytearray()
        for stages in cases_for(name, img):
            out = np.ascontiguousarray(run(img, stages)).tobytes()
            manifest["cases"].append({"input": name, "stages": stages, "offset": len(blob),
                                      "shape": shape3(run(img, stages))})
            blob += out
        with open(os.path.join(OUT, "outputs", name + ".bin"), "wb") as f:
            f.write(blob)
        if name in TENSOR_INPUTS:
            blob = bytearray()
            for p in TENSOR_PARAMS:
                if img.ndim == 2 and "normalizeMean" in p:
                    continue
                t = to_tensor(img, p)
                manifest["tensors"].append({"input": name, "params": p, "offset": len(blob), "shape": list(t.shape)})
                blob += t.astype("<f8").tobytes()
            with open(os.path.join(OUT, "tensor", name + ".bin"), "wb") as f:
                f.write(blob)
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"{len(manifest['cases'])} cases, {len(manifest['tensors'])} tensors, OpenCV {cv2.__version__}")


if __name__ == "__main__":
    main()
