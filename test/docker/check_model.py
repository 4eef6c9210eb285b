"""The `model` check of test/docker/check.py: an ONNX model run by the workers inside the
compose cluster, with the ONNX Runtime the image carries (docker/Dockerfile's onnxruntime
stage, found through the dynamic loader: no --onnxruntime-library is set).

A real architecture (MobileNetV3-Small, test/python/archs.py, seeded weights) is exported
on the host, put into HDFS beside the images (/images/models, from datanode1's container
with the loaders' own hdfs-node.sh), and read as hdfs://namenode:8020/images/models/...;
the features of every image of one class folder must equal onnxruntime's Python API on
the host, run on the tensors the same cluster streams without the model (max |diff| <=
1e-5)."""

import os
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

import imageflight

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARCH = "mobilenet_v3_small"
MODEL = f"hdfs://namenode:8020/images/models/{ARCH}.onnx"


def check_model(cl, a, report, expect, log):
    sys.path.insert(0, os.path.join(REPO, "test", "python"))
    import archs  # torch: the suite's virtualenv has it (IMAGEFLIGHT_TEST_TORCH=1)

    t = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="imageflight-docker-model-") as tmp:
        local = os.path.join(tmp, "models", f"{ARCH}.onnx")
        archs.export(ARCH, local)
        dn = cl.cid("datanode1")
        cl.docker("cp", os.path.join(tmp, "models"), f"{dn}:/tmp/models")
        cl.docker("exec", dn, "/bin/bash", "/etc/hadoop-imageflight/hdfs-node.sh", "load", "/tmp/models",
                  "/images/models:2", timeout=300)
        sess = ort.InferenceSession(local, providers=["CPUExecutionProvider"])
    path = a.path.rstrip("/") + "/cls=cats"
    read = dict(coordinator=cl.coord, recursive=True, drop_image_failures=True, num_partitions=2,
                transforms=imageflight.Transforms().resize(256, keep_aspect_ratio=True).centercrop(224, 224),
                tensor=imageflight.Tensor.imagenet(), stall_timeout=a.stall, timeout=300)
    tensors = imageflight.read_images(path, **read)
    model = imageflight.Model(MODEL, fetch={"features": "features"}, mini_batch_size=8)
    stats = imageflight.ReadStats()
    got = imageflight.read_images(path, model=model, pixels=False, stats=stats, **read)
    expect(got.schema.names[:2] == ["image", "features"], f"model read columns: {got.schema.names}")

    def origins(table):
        return table.column("image").combine_chunks().field("origin").to_pylist()

    x = tensors.column("tensor").combine_chunks().to_numpy_ndarray().astype(np.float32)
    want = dict(zip(origins(tensors), sess.run(["features"], {"input": x})[0]))
    feats = dict(zip(origins(got), got.column("features").combine_chunks().to_numpy_ndarray()))
    expect(len(want) > 10 and set(feats) == set(want),
           f"model read: {len(feats)} rows vs {len(want)} tensors of {path}")
    worst = max(float(np.abs(feats[o] - want[o]).max()) for o in want)
    expect(worst <= 1e-5, f"features differ from the host's onnxruntime by {worst}")
    expect(float(np.abs(x).max()) > 0 and float(np.abs(np.stack(list(want.values()))).max()) > 1e-3,
           "all-zero tensors or features")
    report["model"] = {"rows": len(want), "max_abs_diff": worst, "bytes_per_row": round(stats.bytes / len(want)),
                       "seconds": round(time.monotonic() - t, 2)}
    log(f"model: {len(want)} images of {path}, {ARCH} from {MODEL} on the workers (the image's "
        f"ONNX Runtime, {ort.__version__} on the host): features max|diff| {worst:.3g} vs the host; "
        f"{stats.bytes / len(want):.0f} bytes per row")
