"""Runs the real SynapseML 1.1.0 ImageTransformer (Spark 3.5, OpenCV 3.2.0) over given
image rows and stage lists, in one JVM, and writes what it computes. The transforms
oracle for imageflight's workers (test/python/test_transforms_synapseml.py); run with
test/synapseml/.venv/bin/python after test/synapseml/setup.sh.

    oracle.py JOB_DIR

JOB_DIR/job.json: {"images": [{"origin", "height", "width", "nChannels", "mode",
"offset"}], "cases": [{"name", "stages": [stage maps as imageflight spells them],
"tensor": null | {SynapseML's tensor keys}, optional "images": [indices to run it on,
default all]}]} with the image bytes in JOB_DIR/images.bin.

Writes JOB_DIR/out.json: per case, per image it runs on (in order) either {"error": ...} or
{"height", "width", "nChannels", "mode", "offset", "length"} (bytes in out.bin) or
{"shape": [C, H, W], "dtype": "float32"|"float64", "offset", "length"} (tensor values,
little-endian, in out.bin). A case whose Spark job fails is re-run image by image, so
the images that fail are told apart from those that do not.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from pyspark.sql import SparkSession
from pyspark.sql.types import BinaryType, IntegerType, StringType, StructField, StructType

HERE = os.path.dirname(os.path.abspath(__file__))

IMAGE = StructType([StructField("origin", StringType(), True), StructField("height", IntegerType(), False),
                    StructField("width", IntegerType(), False), StructField("nChannels", IntegerType(), False),
                    StructField("mode", IntegerType(), False), StructField("data", BinaryType(), False)])


def session() -> SparkSession:
    with open(os.path.join(HERE, "target", "synapseml-jars")) as f:
        jars = f.read().strip()
    return (SparkSession.builder.master("local[1]").appName("synapseml-oracle")
            .config("spark.jars", jars).config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "1").config("spark.driver.memory", "1g")
            .getOrCreate())


def quiet(spark) -> SparkSession:
    spark.sparkContext.setLogLevel("OFF")  # failing cases are expected; out.json says why
    return spark


def transformer(spark, stages, tensor):
    """An ImageTransformer built with the wrapper's own stage methods, as a user would."""
    from synapse.ml.opencv import ImageTransformer

    t = ImageTransformer(inputCol="image", outputCol="out")
    for st in stages:
        a = st["action"]
        if a == "resize":
            if "size" in st:
                t.resize(st["size"], st["keepAspectRatio"])
            else:
                t.resize((st["width"], st["height"]))  # the wrapper takes (width, height)
        elif a == "crop":
            t.crop(st["x"], st["y"], st["height"], st["width"])
        elif a == "centercrop":
            t.centerCrop(st["height"], st["width"])
        elif a == "colorformat":
            t.colorFormat(st["format"])
        elif a == "flip":
            t.flip(st["flipCode"])
        elif a == "blur":
            t.blur(float(st["height"]), float(st["width"]))
        elif a == "threshold":
            t.threshold(float(st["threshold"]), float(st["maxVal"]), st["type"])
        elif a == "gaussiankernel":
            t.gaussianKernel(st["apertureSize"], float(st["sigma"]))
        else:
            raise ValueError(f"unknown action {a}")
    if tensor is not None:
        t.setToTensor(True)
        if "normalizeMean" in tensor:
            t.setNormalizeMean([float(v) for v in tensor["normalizeMean"]])
        if "normalizeStd" in tensor:
            t.setNormalizeStd([float(v) for v in tensor["normalizeStd"]])
        if "colorScaleFactor" in tensor:
            t.setColorScaleFactor(float(tensor["colorScaleFactor"]))
        if "tensorChannelOrder" in tensor:
            t.setTensorChannelOrder(tensor["tensorChannelOrder"])
        if "autoConvertToColor" in tensor:
            t.setAutoConvertToColor(bool(tensor["autoConvertToColor"]))
        if tensor.get("tensorElementType") == "double":
            jtypes = spark._jvm.org.apache.spark.sql.types.DataTypes
            t._java_obj.setTensorElementType(jtypes.DoubleType)
    return t


def run(spark, df, stages, tensor):
    """The transformer's output for the images of df, in order."""
    out = transformer(spark, stages, tensor).transform(df)
    if tensor is not None and tensor.get("tensorElementType") == "double":
        assert "DoubleType" in str(out.schema["out"].dataType), out.schema["out"].dataType
    return [r.out for r in out.select("out").collect()]


def kind(tensor) -> str:
    """Cases of one kind have one output type and can share a Spark job."""
    return "image" if tensor is None else tensor.get("tensorElementType", "float")


def batch(spark, df, cases, failed: set) -> dict:
    """Results of several cases of one kind in one Spark job (a union of their
    transforms: Spark's per-job cost dominates on small images), {case index: {image: out}};
    a failing batch is split in halves, and a single failing case is added to failed (for
    outputs())."""
    from pyspark.sql import functions as F

    try:
        parts = []
        for k, case in cases:
            which = case.get("images", None)
            part = df if which is None else df.where(df.i.isin(which))
            out = transformer(spark, case["stages"], case.get("tensor")).transform(part)
            parts.append(out.select(F.lit(k).alias("case"), "i", "out"))
        union = parts[0]
        for p in parts[1:]:
            union = union.unionByName(p)
        if kind(cases[0][1].get("tensor")) == "double":
            assert "DoubleType" in str(union.schema["out"].dataType), union.schema["out"].dataType
        got = {k: {} for k, _ in cases}
        for r in union.collect():
            got[r.case][r.i] = r.out
        return got
    except Exception:  # noqa: BLE001 - some image of some case fails
        if len(cases) > 1:
            half = len(cases) // 2
            return {**batch(spark, df, cases[:half], failed), **batch(spark, df, cases[half:], failed)}
        failed.add(cases[0][0])
        return {}


def outputs(spark, df, which, channels, stages, tensor, failed: bool) -> list:
    """The results for images `which` (an exception for each image SynapseML fails on).
    One image failing fails SynapseML's whole job: the images are then run again by
    channel count (what most failures depend on), and a failing group image by image.
    failed: the case is known to fail on some image already."""
    def on(ids):
        return df.where(df.i.isin(ids)).orderBy("i")

    if not failed:
        try:
            return run(spark, on(which), stages, tensor)
        except Exception:  # noqa: BLE001
            pass
    got = {}
    for c in sorted(set(channels)):
        group = [i for i, ch in zip(which, channels) if ch == c]
        if len(group) > 1:
            try:
                got.update(zip(group, run(spark, on(group), stages, tensor)))
                continue
            except Exception:  # noqa: BLE001
                pass
        for i in group:
            try:
                got[i] = run(spark, on([i]), stages, tensor)[0]
            except Exception as e:  # noqa: BLE001
                got[i] = e
    return [got[i] for i in which]


def main(job_dir: str) -> None:
    with open(os.path.join(job_dir, "job.json")) as f:
        job = json.load(f)
    with open(os.path.join(job_dir, "images.bin"), "rb") as f:
        blob = f.read()
    rows = []
    for im in job["images"]:
        n = im["height"] * im["width"] * im["nChannels"]
        rows.append((im["origin"], im["height"], im["width"], im["nChannels"], im["mode"],
                     bytearray(blob[im["offset"]:im["offset"] + n])))
    spark = quiet(session())
    # cached in the JVM once: no Python worker deserialises the rows for every case
    df = spark.createDataFrame([(i, r) for i, r in enumerate(rows)],
                               StructType([StructField("i", IntegerType(), False),
                                           StructField("image", IMAGE, True)])).cache()
    assert df.count() == len(rows)
    out_meta, out = [], open(os.path.join(job_dir, "out.bin"), "wb")
    pos = 0
    done, failed = {}, set()
    for kd in sorted({kind(c.get("tensor")) for c in job["cases"]}):
        same = [(k, c) for k, c in enumerate(job["cases"]) if kind(c.get("tensor")) == kd]
        for start in range(0, len(same), 40):
            done.update(batch(spark, df, same[start:start + 40], failed))
    for k, case in enumerate(job["cases"]):
        tensor = case.get("tensor")
        which = case.get("images", list(range(len(rows))))
        if k in done:
            results = done[k]
        else:
            results = dict(zip(which, outputs(spark, df, which, [rows[i][3] for i in which], case["stages"], tensor,
                                              k in failed)))
        metas = []
        for i in which:
            res = results[i]
            if isinstance(res, Exception):
                msg = str(res).strip().splitlines()
                cause = ([ln for ln in msg if "CvException" in ln or "requirement failed" in ln]
                         or [ln for ln in msg if "Exception:" in ln] or msg or ["error"])
                metas.append({"error": cause[0].strip()[:300]})
                continue
            if res is None:
                metas.append({"error": "null"})
                continue
            if tensor is None:
                data = bytes(res.data)
                metas.append({"height": res.height, "width": res.width, "nChannels": res.nChannels,
                              "mode": res.mode, "offset": pos, "length": len(data)})
            else:
                dtype = np.float64 if tensor.get("tensorElementType") == "double" else np.float32
                arr = np.asarray(res, dtype=np.float64)
                # Spark returns float32 elements as Python floats (exact); narrowing back is exact.
                data = arr.astype(dtype).astype("<" + np.dtype(dtype).str[1:]).tobytes()
                metas.append({"shape": list(arr.shape), "dtype": np.dtype(dtype).name,
                              "offset": pos, "length": len(data)})
            out.write(data)
            pos += len(data)
        out_meta.append({"name": case["name"], "results": metas})
    out.close()
    with open(os.path.join(job_dir, "out.json"), "w") as f:
        json.dump(out_meta, f)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
