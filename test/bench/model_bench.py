"""Features on the workers vs on the client: images -> 512-float ResNet-18 features.

    .venv/bin/python test/bench/model_bench.py --photos "$(test/bench/photos.sh)"

Builds ResNet-18's architecture with onnx.helper (batch norm folded into the convolutions,
He-initialised seeded weights: the arithmetic of the real network, not its trained values;
no PyTorch, no download), puts it beside copies of the photos in a served root, starts a
coordinator with one in-process worker (the binaries of this tree), and times, on the same
resize 256 + centercrop 224 + ImageNet normalisation:

  workers   `model` in the descriptor with "pixels": false: features computed on the worker
  client    the tensor column streamed (with the transformed pixels, as a read without
            "pixels": false sends them), ResNet-18 run by onnxruntime in the client process,
            mini-batches of 32

and prints images/s, bytes received per image, and the largest |diff| between the two
feature sets (the same library on the same tensors).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
import pyarrow.flight as fl
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
from servers import Cluster, build_binaries  # noqa: E402


def resnet18(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    n = [0]

    def name(p):
        n[0] += 1
        return f"{p}{n[0]}"

    def conv(x, cin, cout, k, s, relu=True):
        w, b, y = name("w"), name("b"), name("conv")
        inits.append(numpy_helper.from_array((rng.standard_normal((cout, cin, k, k)) * np.sqrt(2 / (cin * k * k))).astype(np.float32), w))
        inits.append(numpy_helper.from_array(np.zeros(cout, np.float32), b))
        nodes.append(helper.make_node("Conv", [x, w, b], [y], strides=[s, s], pads=[k // 2] * 4))
        if not relu:
            return y
        r = name("relu")
        nodes.append(helper.make_node("Relu", [y], [r]))
        return r

    def block(x, cin, cout, s):
        y = conv(conv(x, cin, cout, 3, s), cout, cout, 3, 1, relu=False)
        short = conv(x, cin, cout, 1, s, relu=False) if s != 1 or cin != cout else x
        a, r = name("add"), name("relu")
        nodes.append(helper.make_node("Add", [y, short], [a]))
        nodes.append(helper.make_node("Relu", [a], [r]))
        return r

    x = conv("input", 3, 64, 7, 2)
    nodes.append(helper.make_node("MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = "pool", 64
    for cout, s in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        x = block(block(x, cin, cout, s), cout, cout, 1)
        cin = cout
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["features"]))
    inits.append(numpy_helper.from_array((rng.standard_normal((1000, 512)) * 0.01).astype(np.float32), "fc"))
    inits.append(numpy_helper.from_array(np.zeros(1000, np.float32), "fcb"))
    nodes.append(helper.make_node("Gemm", ["features", "fc", "fcb"], ["logits"], transB=1))
    g = helper.make_graph(nodes, "resnet18", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
                          [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 512]),
                           helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(m)
    return m.SerializeToString()


TRANSFORMS = [{"action": "resize", "size": 256, "keepAspectRatio": True},
              {"action": "centercrop", "height": 224, "width": 224}]
TENSOR = {"normalizeMean": [0.485, 0.456, 0.406], "normalizeStd": [0.229, 0.224, 0.225], "colorScaleFactor": 1 / 255}


def read(location, cmd):
    """Plans cmd and reads every endpoint in parallel, as the clients do."""
    client = fl.FlightClient(location)
    info = client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(cmd).encode()))

    def one(ep):
        uri = ep.locations[0].uri
        return [chunk.data for chunk in fl.FlightClient(uri.decode() if isinstance(uri, bytes) else uri).do_get(ep.ticket)]

    with ThreadPoolExecutor(max(1, len(info.endpoints))) as pool:
        batches = [b for bs in pool.map(one, info.endpoints) for b in bs]
    return pa.Table.from_batches(batches, schema=info.schema), sum(b.nbytes for b in batches)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", required=True)
    ap.add_argument("--copies", type=int, default=3, help="copies of each photo")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="imageflight-model-bench-")
    try:
        images = os.path.join(tmp, "images")
        os.makedirs(images)
        for i, p in enumerate(sorted(glob.glob(os.path.join(args.photos, "*.jpg")))):
            for c in range(args.copies):
                shutil.copy(p, os.path.join(images, f"{i:03d}_{c}.jpg"))
        count = len(os.listdir(images))
        model = os.path.join(tmp, "resnet18.onnx")
        with open(model, "wb") as f:
            f.write(resnet18())
        lib = sorted(glob.glob(os.path.join(os.path.dirname(ort.__file__), "capi", "libonnxruntime.so*")))[-1]
        bins = build_binaries(os.path.join(tmp, "bin"))
        c = Cluster(bins, tmp, workers=0, coordinator_args=["--onnxruntime-library", lib, "--model-threads", str(args.threads)])
        try:
            base = {"path": images, "transforms": TRANSFORMS, "tensor": TENSOR}
            spec = {"modelLocation": model, "feedDict": {"input": "tensor"}, "fetchDict": {"features": "features"}, "miniBatchSize": 32}
            read(c.location, {**base, "model": spec, "pixels": False, "limit": 4})  # load the session once
            t0 = time.perf_counter()
            got, wbytes = read(c.location, {**base, "model": spec, "pixels": False})
            tw = time.perf_counter() - t0

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = args.threads
            sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
            sess.run(["features"], {"input": np.zeros((1, 3, 224, 224), np.float32)})
            t0 = time.perf_counter()
            tens, cbytes = read(c.location, base)
            x = tens.column("tensor").combine_chunks().to_numpy_ndarray()
            feats = np.concatenate([sess.run(["features"], {"input": x[i:i + 32]})[0] for i in range(0, len(x), 32)])
            tc = time.perf_counter() - t0
        finally:
            c.close()
        origins_w = got.column("image").combine_chunks().field("origin").to_pylist()
        origins_c = tens.column("image").combine_chunks().field("origin").to_pylist()
        fw = dict(zip(origins_w, got.column("features").combine_chunks().to_numpy_ndarray()))
        diff = max(float(np.abs(fw[o] - f).max()) for o, f in zip(origins_c, feats))
        print(f"{count} photos (x{args.copies} copies of {count // args.copies}), ResNet-18 features [512], "
              f"{args.threads} threads, {os.cpu_count()} cores")
        print(f"| reader | images/s | bytes received per image |")
        print(f"| --- | --- | --- |")
        print(f"| imageflight workers (`model`, pixels: false) | {count / tw:.1f} | {wbytes / count:,.0f} |")
        print(f"| imageflight tensor + onnxruntime in the client | {count / tc:.1f} | {cbytes / count:,.0f} |")
        print(f"features max |diff| between the two: {diff:.3g}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
