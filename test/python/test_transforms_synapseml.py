"""The real SynapseML 1.1.0 ImageTransformer (Spark 3.5, its OpenCV 3.2.0 jar; one JVM for
the whole module, test/synapseml/oracle.py) and real imageflight workers (a coordinator and
one worker process) apply the same stage lists to the same decoded rows; every output byte
and every tensor value must be identical, and the images SynapseML fails on must be the
ones we make invalid rows of.

Inputs are lossless: the corpus's PNGs and synthetic 1-, 3- and 4-channel PNGs. SynapseML is
fed the rows our worker decoded (without transforms), so only the transforms are compared.
Cases cover every stage and its parameter edges (docs/transforms.md)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

import imageflight
from corpus import photo
from conftest import REPORT
from servers import Cluster

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SYN = os.path.join(ROOT, "test", "synapseml")
CORPUS_PNGS = ["rgb8", "rgba8", "gray8", "gray1", "palette", "palette_trns", "rgb_trns", "rgb16"]


def R(h, w):
    return {"action": "resize", "height": h, "width": w}


def C(x, y, h, w):
    return {"action": "crop", "x": x, "y": y, "height": h, "width": w}


def CC(h, w):
    return {"action": "centercrop", "height": h, "width": w}


def B(h, w):
    return {"action": "blur", "height": h, "width": w}


def G(n, s):
    return {"action": "gaussiankernel", "apertureSize": n, "sigma": s}


def CF(f):
    return {"action": "colorformat", "format": f}


# Image subsets: every failing (case, image) pair costs the oracle Spark jobs of its own
# (one failing image fails SynapseML's whole job), so cases that fail on some images run
# on a few chosen ones; cases that apply everywhere run on all.
def BIG(m):
    return m["height"] >= 9 and m["width"] >= 9


def SHAPES(m):  # 1, 3 and 4 channels, and a single row and column
    return m["origin"] in ("photo_gray.png", "photo_rgb.png", "photo_rgba.png", "row_rgb.png", "col_gray.png")


def COLOUR(m):
    return m["nChannels"] > 1


def cases() -> list:
    out = []

    def add(name, stages, tensor=None, only=None):
        out.append({"name": name, "stages": stages, "tensor": tensor, "only": only})

    for h, w in [(7, 5), (31, 40), (10, 15), (1, 1), (3, 50)]:
        add(f"resize {h}x{w}", [R(h, w)])
    for s, keep in [(8, True), (13, True), (40, True), (9, False)]:
        add(f"resize size {s} keep {keep}", [{"action": "resize", "size": s, "keepAspectRatio": keep}])
    add("crop", [C(1, 2, 5, 6)], only=BIG)
    add("crop outside some images", [C(3, 3, 6, 6)], only=SHAPES)
    add("centercrop", [CC(6, 7)])
    add("centercrop clamps", [CC(100, 3)])
    for code in (0, 1, -1):
        add(f"flip {code}", [{"action": "flip", "flipCode": code}])
    for code in range(12):
        add(f"colorformat {code}", [CF(code)], only=SHAPES)
    for t, m, typ in [(100.5, 200, 0), (127, 255.5, 1), (80.9, 0, 2), (0, 10, 3), (254, 1, 4), (-3, 300, 0)]:
        add(f"threshold {t} {m} {typ}", [{"action": "threshold", "threshold": t, "maxVal": m, "type": typ}])
    for h, w in [(1, 1), (3, 3), (3, 5), (5, 5), (7, 7), (5, 9), (9, 9), (11, 7), (16, 16), (15, 17),
                 (17, 17), (1, 31), (31, 1), (25, 11), (40, 9), (64, 3)]:
        add(f"blur {h}x{w}", [B(h, w)])
    for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15):
        for s in (0, -1, 0.5, 1.5, 3.0):
            add(f"gaussiankernel {n} sigma {s}", [G(n, s)])
    add("gaussiankernel 31 sigma 5", [G(31, 5.0)])
    # a filter after a crop reads the pixels beyond the crop's edge
    for crop in [C(0, 0, 6, 7), C(2, 3, 5, 4), C(1, 1, 2, 2)]:
        tag = "crop {x},{y} {h}x{w}".format(x=crop["x"], y=crop["y"], h=crop["height"], w=crop["width"])
        add(f"{tag} blur 5x3", [crop, B(5, 3)], only=BIG)
        add(f"{tag} blur 17x17", [crop, B(17, 17)], only=BIG)
        add(f"{tag} gaussiankernel 5", [crop, G(5, 0)], only=BIG)
        add(f"{tag} gaussiankernel 4 sigma 1", [crop, G(4, 1.0)], only=BIG)
    add("centercrop blur", [CC(5, 5), B(3, 3)])
    add("centercrop gaussiankernel", [CC(4, 9), G(7, 2.0)])
    add("crop crop blur", [C(1, 1, 8, 8), C(2, 2, 3, 3), B(3, 3)], only=BIG)
    add("crop flip blur", [C(1, 1, 5, 5), {"action": "flip", "flipCode": 1}, B(3, 3)], only=BIG)
    add("crop blur blur", [C(1, 1, 5, 5), B(3, 3), B(3, 3)], only=BIG)
    add("resize centercrop blur", [{"action": "resize", "size": 12, "keepAspectRatio": True}, CC(8, 8), B(5, 5)])
    # tensors (a fixed size first: the tensor column has one shape)
    fixed = [R(6, 5)]
    imagenet = {"normalizeMean": [0.485, 0.456, 0.406], "normalizeStd": [0.229, 0.224, 0.225],
                "colorScaleFactor": 1 / 255}
    add("tensor defaults", fixed, {})
    add("tensor imagenet", fixed, imagenet, only=COLOUR)
    add("tensor imagenet on gray fails", fixed, imagenet, only=SHAPES)
    add("tensor imagenet BGR double", fixed, dict(imagenet, tensorChannelOrder="BGR", tensorElementType="double"),
        only=COLOUR)
    add("tensor imagenet autoConvertToColor", fixed, dict(imagenet, autoConvertToColor=True))
    add("tensor autoConvertToColor false", fixed, {"autoConvertToColor": False, "colorScaleFactor": 0.5})
    add("tensor gray", fixed + [CF(6)], {"normalizeMean": [100.0], "normalizeStd": [3.0]})
    add("tensor gray autoConvertToColor", fixed + [CF(6)], {"autoConvertToColor": True})
    return out


def images(d: str, corpus) -> None:
    """The inputs: the corpus's lossless PNGs and synthetic ones of 1, 3 and 4 channels."""
    for n in CORPUS_PNGS:
        shutil.copy(corpus.path(f"images/cls=png/{n}.png"), os.path.join(d, f"corpus_{n}.png"))
    rng = np.random.default_rng(20)
    p = photo(29, 37, 20)
    noise = rng.integers(0, 256, (13, 19, 4), dtype=np.uint8)
    arrays = {"photo_rgb": p, "photo_gray": p[:, :, 1], "photo_rgba": np.dstack([p, p[:, :, 0][::-1]]),
              "noise_rgb": noise[:, :, :3], "noise_gray": noise[:, :, 0], "noise_rgba": noise,
              "ramp_gray": (np.arange(8 * 33) % 256).reshape(8, 33).astype(np.uint8),
              "row_rgb": rng.integers(0, 256, (1, 9, 3), dtype=np.uint8),
              "col_gray": rng.integers(0, 256, (9, 1), dtype=np.uint8)}
    for name, a in arrays.items():
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, "PNG")
        with open(os.path.join(d, f"{name}.png"), "wb") as f:
            f.write(buf.getvalue())


def rows(table: pa.Table) -> dict:
    img = table.column("image").combine_chunks()
    cols = [img.field(k).to_pylist() for k in ("origin", "height", "width", "nChannels", "mode", "data")]
    out = {}
    for i, (o, h, w, c, m, d) in enumerate(zip(*cols)):
        out[o] = {"i": i, "height": h, "width": w, "nChannels": c, "mode": m, "data": d}
    return out


@pytest.fixture(scope="module")
def oracle_python():
    """test/synapseml's venv and jars (its setup.sh is idempotent: a no-op once installed)."""
    r = subprocess.run([os.path.join(SYN, "setup.sh")], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"test/synapseml/setup.sh failed:\n{r.stdout}\n{r.stderr}", pytrace=False)
    return os.path.join(SYN, ".venv", "bin", "python")


@pytest.fixture(scope="module")
def run(go_bins, corpus, workdir, oracle_python):
    """(inputs, SynapseML's results, ours) for every case."""
    d = os.path.join(workdir, "synapseml-inputs")
    os.makedirs(d)
    images(d, corpus)
    cluster = Cluster(go_bins, d, workers=1)
    try:
        originals = rows(imageflight.read_images(d, coordinator=cluster.location))
        # SYNAPSEML_ORACLE_CACHE=DIR keeps the oracle's results between runs while one works on
        # the Go side: they are reused only for a byte-identical job (same inputs, same cases).
        job_dir = os.environ.get("SYNAPSEML_ORACLE_CACHE") or os.path.join(workdir, "synapseml-job")
        os.makedirs(job_dir, exist_ok=True)
        order = sorted(originals)
        blob, metas = bytearray(), []
        for o in order:
            r = originals[o]
            assert r["height"] > 0, o
            # the file name only: the job (and a cached result) does not depend on the temp dir
            metas.append({"origin": os.path.basename(o), "height": r["height"], "width": r["width"],
                          "nChannels": r["nChannels"], "mode": r["mode"], "offset": len(blob)})
            blob += r["data"]
        all_cases = []
        for c in cases():
            only = c.pop("only")
            c["images"] = [i for i, m in enumerate(metas) if only is None or only(m)]
            assert c["images"], c["name"]
            all_cases.append(c)
        job = json.dumps({"images": metas, "cases": all_cases}, sort_keys=True)
        cached = False
        if os.path.exists(os.path.join(job_dir, "out.json")):
            with open(os.path.join(job_dir, "job.json")) as f, open(os.path.join(job_dir, "images.bin"), "rb") as g:
                cached = f.read() == job and g.read() == blob
        if not cached:
            run_oracle(oracle_python, job_dir, job, blob)
        with open(os.path.join(job_dir, "out.json")) as f:
            theirs = json.load(f)
        with open(os.path.join(job_dir, "out.bin"), "rb") as f:
            theirs_blob = f.read()
        ours = []
        for case in all_cases:
            try:
                t = imageflight.read_images(d, coordinator=cluster.location, transforms=case["stages"],
                                            tensor=case["tensor"])
                ours.append(t)
            except imageflight.InvalidArgument as e:
                ours.append(e)
        yield order, all_cases, theirs, theirs_blob, ours
    finally:
        cluster.close()


def run_oracle(oracle_python, job_dir, job, blob):
    for name in ("out.json", "out.bin"):
        if os.path.exists(os.path.join(job_dir, name)):
            os.remove(os.path.join(job_dir, name))
    with open(os.path.join(job_dir, "images.bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(job_dir, "job.json"), "w") as f:
        f.write(job)
    # its own Spark 3.5: nothing of this session's Spark 4 (home, gateway) may leak in
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPARK_", "PYSPARK_")) and k != "PYTHONPATH"}
    env.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=oracle_python, PYSPARK_DRIVER_PYTHON=oracle_python)
    p = subprocess.run([oracle_python, os.path.join(SYN, "oracle.py"), job_dir], env=env,
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.fail(f"oracle.py failed:\n{p.stderr[-5000:]}", pytrace=False)


def compare(order, case, theirs, blob, table):
    """Mismatches of one case, and the number of values compared."""
    bad, compared = [], 0
    if isinstance(table, Exception):
        return [f"{case['name']}: we rejected the request: {table}"], 0
    ours = rows(table)
    tensors = None
    if case["tensor"] is not None:
        col = table.column("tensor").combine_chunks()
        shape = list(col.type.shape)
        tensors = col.storage  # fixed-size lists: one per row
    assert len(theirs["results"]) == len(case["images"]), case["name"]
    for origin, want in zip([order[i] for i in case["images"]], theirs["results"]):
        got = ours.get(origin)
        tag = f"{case['name']} / {os.path.basename(origin)}"
        if got is None:
            bad.append(f"{tag}: no row")
            continue
        if "error" in want:
            if got["height"] != -1:
                bad.append(f"{tag}: SynapseML fails ({want['error'][:160]}), we give {got['height']}x{got['width']}x{got['nChannels']}")
            continue
        if got["height"] == -1:
            bad.append(f"{tag}: we make an invalid row, SynapseML gives a result")
            continue
        raw = blob[want["offset"]:want["offset"] + want["length"]]
        if tensors is None:
            shape_w = (want["height"], want["width"], want["nChannels"], want["mode"])
            shape_g = (got["height"], got["width"], got["nChannels"], got["mode"])
            if shape_w != shape_g:
                bad.append(f"{tag}: shape {shape_g}, SynapseML {shape_w}")
                continue
            a = np.frombuffer(got["data"], np.uint8).astype(np.int16)
            b = np.frombuffer(raw, np.uint8).astype(np.int16)
        else:
            tv = tensors[got["i"]]
            if want["shape"] != shape:
                # our column has one shape: an image whose tensor has another gets a null one
                if tv.is_valid:
                    bad.append(f"{tag}: SynapseML's tensor is {want['shape']}, the column's {shape}, ours not null")
                continue
            if not tv.is_valid:
                bad.append(f"{tag}: null tensor, SynapseML's is {want['shape']}")
                continue
            a = np.asarray(tv.values.to_numpy(zero_copy_only=False), np.float64)
            b = np.frombuffer(raw, "<" + ("f4" if want["dtype"] == "float32" else "f8")).astype(np.float64)
            if str(tensors.type.value_type) != ("float" if want["dtype"] == "float32" else "double"):
                bad.append(f"{tag}: element type {tensors.type.value_type}, SynapseML {want['dtype']}")
        compared += b.size
        if a.shape != b.shape:
            bad.append(f"{tag}: {a.size} values, SynapseML {b.size}")
            continue
        diff = np.abs(a - b)
        if diff.max(initial=0) > 0:
            bad.append(f"{tag}: {int((diff > 0).sum())}/{b.size} values differ, max |diff| {diff.max():g}")
    return bad, compared


def test_identical_to_synapseml(run):
    order, all_cases, theirs, blob, ours = run
    assert [t["name"] for t in theirs] == [c["name"] for c in all_cases]
    bad, compared = [], 0
    for case, want, table in zip(all_cases, theirs, ours):
        b, n = compare(order, case, want, blob, table)
        bad += b
        compared += n
    failing = sum(1 for w in theirs for r in w["results"] if "error" in r)
    pairs = sum(len(c["images"]) for c in all_cases)
    REPORT.append(f"SynapseML 1.1.0 oracle: {len(all_cases)} cases on {len(order)} images ({pairs} pairs), "
                  f"{compared} values compared, {failing} failing pairs, {len(bad)} mismatches")
    assert compared > 0
    assert not bad, f"{len(bad)} mismatches with SynapseML 1.1.0:\n" + "\n".join(bad)
