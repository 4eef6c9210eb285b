#!/usr/bin/env python3
"""Writes the goldens for pkg/transform (Go) under pkg/transform/testdata/, computed by
the real SynapseML 1.1.0 ImageTransformer (Spark 3.5, OpenCV 3.2.0) through
test/synapseml/oracle.py: one JVM for all cases.

Layout: testdata/golden.json lists inputs (raw row-major bytes, Spark's BGR / BGRA /
gray order, in inputs/NAME.bin) and cases (input name, stage list, shape, and offset of
the output in outputs/NAME.bin, which holds all outputs of that input back to back).
Tensor cases hold SynapseML's tensor values as float64 (tensor/NAME.bin, little endian,
same offset scheme). The inputs are the committed ones (noise, a gradient and crops of
two real photos); the cases are the stage and parameter edges below.

Usage: test/synapseml/setup.sh && test/synapseml/.venv/bin/python test/python/gen_transform_golden.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "pkg", "transform", "testdata")
ORACLE = os.path.join(ROOT, "test", "synapseml", "oracle.py")
MODES = {1: 0, 3: 16, 4: 24}


def shape3(a: np.ndarray):
    return [a.shape[0], a.shape[1], 1 if a.ndim == 2 else a.shape[2]]


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
    for kh, kw in [(3, 3), (5, 3), (1, 4), (2, 2), (7, 7), (20, 20), (9, 31), (16, 16), (5, 9), (11, 7)]:
        cs.append([dict(action="blur", height=kh, width=kw)])
    for t, m, ty in [(127, 255, 0), (100.7, 200.5, 1), (90, 255, 2), (128.0, 0, 3), (60, 255, 4),
                     (-3, 17, 0), (255, 99, 1), (300, 255, 2), (-1, 255, 3), (254.9, 255, 4), (0.5, 254.5, 0)]:
        cs.append([dict(action="threshold", threshold=t, maxVal=m, type=ty)])
    for n, s in [(3, 0), (5, 1.3), (7, 0), (9, 0), (11, 0), (4, 1.0), (15, 2.5), (1, 0), (21, 0.4), (31, 6),
                 (2, 0), (4, 0), (6, -1), (6, 1.5), (8, 0), (9, -1), (10, 2.0)]:
        cs.append([dict(action="gaussiankernel", apertureSize=n, sigma=s)])
    # a filter after a crop reads the image beyond the crop's edge
    if h > 4 and w > 4:
        inner = dict(action="crop", x=1, y=h // 3, height=h - h // 3 - 1, width=w - 2)
        for f in (dict(action="blur", height=5, width=3), dict(action="blur", height=17, width=17),
                  dict(action="gaussiankernel", apertureSize=5, sigma=0),
                  dict(action="gaussiankernel", apertureSize=4, sigma=1.0)):
            cs.append([inner, f])
        cs.append([dict(action="centercrop", height=h // 2, width=w // 2), dict(action="blur", height=3, width=3)])
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
    {"normalizeMean": [0.485, 0.456, 0.406], "normalizeStd": [0.229, 0.224, 0.225], "colorScaleFactor": 1 / 255,
     "autoConvertToColor": True},
    {"normalizeMean": [100.5], "normalizeStd": [3.0], "tensorElementType": "double"},
]


def applicable(img: np.ndarray, p: dict) -> bool:
    """SynapseML requires one mean and std per tensor channel."""
    c = 1 if img.ndim == 2 and not p.get("autoConvertToColor") else 3
    return len(p.get("normalizeMean", [0] * c)) == c


def oracle(ins: dict, jobs: list) -> list:
    """SynapseML's results for jobs [(input name, stages, tensor params or None)], in order.
    Identical stage lists run as one case over all their inputs."""
    names = sorted(ins)
    grouped = {}
    for name, stages, tensor in jobs:
        key = json.dumps([stages, tensor], sort_keys=True)
        grouped.setdefault(key, []).append(names.index(name))
    keys = list(grouped)
    blob, metas = bytearray(), []
    for n in names:
        img = ins[n]
        h, w, c = shape3(img)
        metas.append({"origin": n, "height": h, "width": w, "nChannels": c, "mode": MODES[c], "offset": len(blob)})
        blob += img.tobytes()
    cases = [{"name": f"case {i}", "stages": json.loads(k)[0], "tensor": json.loads(k)[1],
              "images": sorted(set(grouped[k]))} for i, k in enumerate(keys)]
    with tempfile.TemporaryDirectory(prefix="golden-") as d:
        with open(os.path.join(d, "images.bin"), "wb") as f:
            f.write(blob)
        with open(os.path.join(d, "job.json"), "w") as f:
            json.dump({"images": metas, "cases": cases}, f)
        env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
        subprocess.run([sys.executable, ORACLE, d], env=env, check=True)
        with open(os.path.join(d, "out.json")) as f:
            out = json.load(f)
        with open(os.path.join(d, "out.bin"), "rb") as f:
            data = f.read()
    by = {}
    for case, res in zip(cases, out):
        for i, r in zip(case["images"], res["results"]):
            by[(names[i], json.dumps([case["stages"], case["tensor"]], sort_keys=True))] = r
    results = []
    for name, stages, tensor in jobs:
        r = by[(name, json.dumps([stages, tensor], sort_keys=True))]
        if "error" in r:
            raise RuntimeError(f"SynapseML fails {name} {stages} {tensor}: {r['error']}")
        raw = data[r["offset"]:r["offset"] + r["length"]]
        if tensor is None:
            results.append((raw, [r["height"], r["width"], r["nChannels"]]))
        else:
            vals = np.frombuffer(raw, "<f4" if r["dtype"] == "float32" else "<f8").astype("<f8")
            results.append((vals.tobytes(), r["shape"]))
    return results


def main() -> None:
    with open(os.path.join(OUT, "golden.json")) as f:
        names = list(json.load(f)["inputs"])
    ins = {n: committed_input(n) for n in names}
    jobs = [(n, stages, None) for n in names for stages in cases_for(n, ins[n])]
    tjobs = [(n, [], p) for n in TENSOR_INPUTS for p in TENSOR_PARAMS if applicable(ins[n], p)]
    results = oracle(ins, jobs + tjobs)
    manifest = {"oracle": "SynapseML 1.1.0 ImageTransformer (OpenCV 3.2.0)", "inputs": {}, "cases": [], "tensors": []}
    outs = {n: bytearray() for n in names}
    touts = {n: bytearray() for n in TENSOR_INPUTS}
    for (name, stages, tensor), (raw, shape) in zip(jobs + tjobs, results):
        if tensor is None:
            manifest["cases"].append({"input": name, "stages": stages, "offset": len(outs[name]), "shape": shape})
            outs[name] += raw
        else:
            manifest["tensors"].append({"input": name, "params": tensor, "offset": len(touts[name]), "shape": shape})
            touts[name] += raw
    for n in names:
        manifest["inputs"][n] = shape3(ins[n])
        with open(os.path.join(OUT, "outputs", n + ".bin"), "wb") as f:
            f.write(outs[n])
    for n in TENSOR_INPUTS:
        with open(os.path.join(OUT, "tensor", n + ".bin"), "wb") as f:
            f.write(touts[n])
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"{len(manifest['cases'])} cases, {len(manifest['tensors'])} tensors, {manifest['oracle']}")


if __name__ == "__main__":
    main()
