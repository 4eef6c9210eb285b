"""ONNX models on the workers (docs/models.md), end to end: a coordinator and two worker
processes read a folder with `model`, and every row's features must equal what onnxruntime's
Python API computes on the tensors the same workers stream without the model. Then the
errors: a model outside the roots, missing, not ONNX, with the wrong input shape, changed
after planning, and a worker without ONNX Runtime.

The model is real (a small convolutional network built with onnx.helper from seeded
weights, no download); the workers load ONNX Runtime from the onnxruntime wheel installed in
this virtualenv (test/python/requirements.txt)."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import signal
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from onnx import TensorProto, helper, numpy_helper

import imageflight

from conftest import REPORT
from servers import Cluster

SIDE = 224
TRANSFORMS = [{"action": "resize", "size": 256, "keepAspectRatio": True},
              {"action": "centercrop", "height": SIDE, "width": SIDE}]
TENSOR = {"normalizeMean": [0.485, 0.456, 0.406], "normalizeStd": [0.229, 0.224, 0.225],
          "colorScaleFactor": 1 / 255, "autoConvertToColor": True}  # gray images too


def ort_library() -> str:
    """The C library inside this virtualenv's onnxruntime wheel (it must be there: the suite
    installs it)."""
    libs = sorted(glob.glob(os.path.join(os.path.dirname(ort.__file__), "capi", "libonnxruntime.so*")))
    assert libs, f"no libonnxruntime.so in {os.path.dirname(ort.__file__)}/capi"
    return libs[-1]


def convnet(seed: int, side: int = SIDE) -> bytes:
    """Conv 3->16 (7x7, stride 4) + Relu + Conv 16->32 (3x3, stride 2) + Relu +
    GlobalAveragePool + Flatten = features [N, 32]; Gemm 32->10 = logits [N, 10]."""
    rng = np.random.default_rng(seed)
    init = [numpy_helper.from_array((rng.standard_normal(s) * 0.1).astype(np.float32), n) for n, s in
            [("w1", (16, 3, 7, 7)), ("b1", (16,)), ("w2", (32, 16, 3, 3)), ("b2", (32,)), ("fc", (10, 32)), ("fcb", (10,))]]
    nodes = [helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], strides=[4, 4], pads=[3, 3, 3, 3]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("GlobalAveragePool", ["r2"], ["p"]),
             helper.make_node("Flatten", ["p"], ["pooled"]),
             helper.make_node("Gemm", ["pooled", "fc", "fcb"], ["fc_out"], transB=1)]
    g = helper.make_graph(nodes, "convnet", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, side, side])],
                          [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["N", 32]),
                           helper.make_tensor_value_info("fc_out", TensorProto.FLOAT, ["N", 10])], init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(m)
    return m.SerializeToString()


def model_spec(location: str, **extra) -> dict:
    spec = {"modelLocation": location, "feedDict": {"input": "tensor"},
            "fetchDict": {"features": "pooled", "logits": "fc_out"}, "miniBatchSize": 4,
            "softMaxDict": {"logits": "probability"}, "argMaxDict": {"probability": "prediction"}}
    spec.update(extra)
    return spec


@pytest.fixture(scope="module")
def model_root(corpus):
    """A served root with a few of the corpus's photos (and an undecodable file) and a
    models folder."""
    root = tempfile.mkdtemp(prefix="imageflight-model-")
    images = os.path.join(root, "images")
    os.makedirs(images)
    srcs = sorted(glob.glob(os.path.join(corpus.images, "**", "*.jpg"), recursive=True))[:6]
    srcs += sorted(glob.glob(os.path.join(corpus.images, "**", "*.png"), recursive=True))[:3]
    assert len(srcs) >= 6, srcs
    for i, s in enumerate(srcs):
        shutil.copy(s, os.path.join(images, f"{i:02d}{os.path.splitext(s)[1]}"))
    with open(os.path.join(images, "99.jpg"), "wb") as f:
        f.write(b"not an image")
    os.makedirs(os.path.join(root, "models"))
    with open(os.path.join(root, "models", "convnet.onnx"), "wb") as f:
        f.write(convnet(1))
    with open(os.path.join(root, "models", "notonnx.onnx"), "wb") as f:
        f.write(open(srcs[0], "rb").read())
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def model_cluster(go_bins, model_root):
    try:
        c = Cluster(go_bins, model_root, workers=2, worker_args=["--onnxruntime-library", ort_library(), "--model-threads", "1"])
    except RuntimeError as err:
        pytest.fail(f"cluster did not start: {err}", pytrace=False)
    yield c
    c.close()


def _read(location: str, cmd: dict) -> tuple[pa.Table, int]:
    """Plans cmd and reads every endpoint; returns the table and the bytes of its record
    batches as received."""
    client = fl.FlightClient(location)
    info = client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(cmd).encode()))
    tables, wire = [], 0
    for ep in info.endpoints:
        uri = ep.locations[0].uri
        reader = fl.FlightClient(uri.decode() if isinstance(uri, bytes) else uri).do_get(ep.ticket)
        t = reader.read_all()
        wire += sum(b.nbytes for b in t.to_batches())
        tables.append(t)
    table = pa.concat_tables(tables)
    assert table.schema.equals(info.schema)
    return table, wire


def _error(location: str, cmd: dict, planned_then=None) -> Exception:
    """The error of planning and reading cmd (pyarrow raises ArrowInvalid for InvalidArgument
    and FailedPrecondition, ArrowKeyError for NotFound, FlightError for the rest)."""
    client = fl.FlightClient(location)
    with pytest.raises((fl.FlightError, pa.ArrowException)) as e:
        info = client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(cmd).encode()))
        if planned_then:
            planned_then()
        for ep in info.endpoints:
            uri = ep.locations[0].uri
            fl.FlightClient(uri.decode() if isinstance(uri, bytes) else uri).do_get(ep.ticket).read_all()
    return e.value


def _by_origin(table: pa.Table, col: str) -> dict:
    origins = table.column("image").combine_chunks().field("origin").to_pylist()
    return dict(zip(origins, table.column(col).to_pylist()))


def test_features_equal_onnxruntime_python(model_cluster, model_root):
    loc = model_cluster.location
    base = {"path": os.path.join(model_root, "images"), "transforms": TRANSFORMS, "tensor": TENSOR, "numPartitions": 3}
    tensors, tensor_wire = _read(loc, base)
    path = os.path.join(model_root, "models", "convnet.onnx")
    got, feat_wire = _read(loc, {**base, "model": model_spec(path), "pixels": False})

    assert got.schema.names == ["image", "features", "logits", "probability", "prediction"]
    ftype = got.schema.field("features").type
    assert ftype.extension_name == "arrow.fixed_shape_tensor" and ftype.shape == [32] and ftype.value_type == pa.float32()
    assert got.schema.field("probability").type.value_type == pa.float64()
    assert got.schema.field("prediction").type == pa.float64()

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    want_t = _by_origin(tensors, "tensor")
    feats, logits = _by_origin(got, "features"), _by_origin(got, "logits")
    probs, preds = _by_origin(got, "probability"), _by_origin(got, "prediction")
    img = {o: r for o, r in zip(got.column("image").combine_chunks().field("origin").to_pylist(),
                                got.column("image").to_pylist())}
    assert set(feats) == set(want_t) and len(feats) == 10
    worst, checked = 0.0, 0
    for origin, t in want_t.items():
        if t is None:  # the undecodable file: an invalid row, null features
            assert img[origin]["height"] == -1 and feats[origin] is None and preds[origin] is None
            continue
        assert img[origin]["data"] == b"" and (img[origin]["height"], img[origin]["width"]) == (SIDE, SIDE)
        x = np.asarray(t, np.float32).reshape(1, 3, SIDE, SIDE)
        f, lg = sess.run(["pooled", "fc_out"], {"input": x})
        worst = max(worst, float(np.abs(np.asarray(feats[origin]) - f[0]).max()),
                    float(np.abs(np.asarray(logits[origin]) - lg[0]).max()))
        v = lg[0].astype(np.float64)
        p = np.exp(v - (v.max() + np.log(np.exp(v - v.max()).sum())))
        assert np.abs(np.asarray(probs[origin]) - p).max() <= 1e-6
        assert preds[origin] == float(np.argmax(p))
        checked += 1
    # Same library, same kernels, same float32 input: only mini-batching differs, which these
    # kernels do not reorder; 1e-5 is the bound (observed: printed in the summary).
    assert worst <= 1e-5, worst
    assert checked == sum(t is not None for t in want_t.values()) and checked >= 5, checked
    rows = len(want_t)
    REPORT.append(f"model: {checked} images, features vs onnxruntime-python max|diff| {worst:.3g}; "
                  f"wire bytes per row {feat_wire / rows:.0f} (features, pixels: false) vs "
                  f"{tensor_wire / rows:.0f} (tensor + pixels), {tensor_wire / feat_wire:.0f}x less")


def test_fixed_batch_and_pixels_kept(model_cluster, model_root):
    """A model exported with batch 1 runs (padded calls), and without "pixels": false the
    image keeps its transformed pixels."""
    path = os.path.join(model_root, "models", "b1.onnx")
    m = onnx.load_from_string(convnet(1))
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_value = 1
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    base = {"path": os.path.join(model_root, "images"), "transforms": TRANSFORMS, "tensor": TENSOR}
    got, _ = _read(model_cluster.location, {**base, "model": model_spec(os.path.join(model_root, "models", "convnet.onnx"))})
    b1, _ = _read(model_cluster.location, {**base, "model": model_spec(path, miniBatchSize=7)})
    want, got1 = _by_origin(got, "features"), _by_origin(b1, "features")
    assert set(want) == set(got1)
    for o, v in want.items():
        assert (v is None) == (got1[o] is None)
        if v is not None:
            assert np.abs(np.asarray(v) - np.asarray(got1[o])).max() <= 1e-5
    datas = [len(r["data"]) for r in b1.column("image").to_pylist() if r["height"] > 0]
    assert datas and all(n in (SIDE * SIDE, SIDE * SIDE * 3) for n in datas), datas  # gray images stay gray


@pytest.mark.parametrize("case", ["outside", "missing", "not-onnx", "shape", "no-output"])
def test_model_errors_before_any_image(case, model_cluster, model_root, outside_dir):
    models = os.path.join(model_root, "models")
    cmd = {"path": os.path.join(model_root, "images"), "transforms": TRANSFORMS, "tensor": TENSOR,
           "model": model_spec(os.path.join(models, "convnet.onnx"))}
    want = {"outside": "outside the served roots", "missing": "does not exist", "not-onnx": "not an ONNX model",
            "shape": 'input "input" has shape [?, 3, 224, 224]; the tensor is [batch, 3, 64, 64]',
            "no-output": 'the model has no output "logits_typo"'}[case]
    if case == "outside":
        with open(os.path.join(outside_dir, "m.onnx"), "wb") as f:
            f.write(convnet(1))
        cmd["model"]["modelLocation"] = os.path.join(outside_dir, "m.onnx")
    elif case == "missing":
        cmd["model"]["modelLocation"] = os.path.join(models, "nope.onnx")
    elif case == "not-onnx":
        cmd["model"]["modelLocation"] = os.path.join(models, "notonnx.onnx")
    elif case == "shape":
        cmd["transforms"] = [{"action": "resize", "height": 64, "width": 64}]
    else:
        cmd["model"]["fetchDict"] = {"logits": "logits_typo"}
        del cmd["model"]["softMaxDict"], cmd["model"]["argMaxDict"]
    client = fl.FlightClient(model_cluster.location)
    with pytest.raises((fl.FlightError, pa.ArrowException)) as e:
        client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(cmd).encode()))
    msg = str(e.value)
    assert want in msg and os.path.basename(cmd["model"]["modelLocation"]) in msg, msg
    if case == "missing":
        assert isinstance(e.value, KeyError) and "not found error" in msg, msg
    else:
        assert isinstance(e.value, pa.ArrowInvalid) and "invalid argument error" in msg, msg


def test_model_changed_after_planning(model_cluster, model_root):
    """Bytes that are not the planned ones never run: the worker refuses them."""
    path = os.path.join(model_root, "models", "changing.onnx")
    with open(path, "wb") as f:
        f.write(convnet(5))  # a digest no worker has cached

    def change():
        with open(path, "wb") as f:
            f.write(convnet(6))

    err = _error(model_cluster.location, {"path": os.path.join(model_root, "images"), "transforms": TRANSFORMS,
                                          "tensor": TENSOR, "model": model_spec(path)}, planned_then=change)
    msg = str(err)
    assert "changed since planning" in msg and "plan again" in msg, msg
    assert isinstance(err, pa.ArrowInvalid) and "precondition failed" in msg, msg


def test_worker_without_onnxruntime(go_bins, model_root):
    """A worker that cannot load ONNX Runtime serves plain reads and refuses model reads with
    a message naming what to install."""
    c = Cluster(go_bins, model_root, workers=1, worker_args=["--onnxruntime-library", "/nonexistent/libonnxruntime.so.1.24.1"])
    try:
        base = {"path": os.path.join(model_root, "images"), "transforms": TRANSFORMS, "tensor": TENSOR}
        plain, _ = _read(c.location, base)
        assert plain.num_rows == 10
        err = _error(c.location, {**base, "model": model_spec(os.path.join(model_root, "models", "convnet.onnx"))})
        msg = str(err)
        assert "cannot run ONNX models" in msg and "pip install onnxruntime" in msg and "--onnxruntime-library" in msg, msg
    finally:
        c.close()


def _client_model(model_root: str) -> "imageflight.Model":
    return imageflight.Model(os.path.join(model_root, "models", "convnet.onnx"), input="input", mini_batch_size=3,
                             fetch={"features": "pooled", "logits": "fc_out"}, softmax={"logits": "probability"},
                             argmax={"probability": "prediction"})


def test_python_client_and_sigkilled_worker(go_bins, model_cluster, model_root):
    """imageflight.read_images(model=Model(...)) gives the raw protocol's features; so does a
    read whose worker is SIGKILLed after its first batch (the client resumes the split on the
    other worker: every row once, the same features)."""
    images = os.path.join(model_root, "images")
    kw = dict(transforms=TRANSFORMS, tensor=TENSOR, model=_client_model(model_root), pixels=False)
    raw, _ = _read(model_cluster.location, {"path": images, "transforms": TRANSFORMS, "tensor": TENSOR,
                                            "model": model_spec(os.path.join(model_root, "models", "convnet.onnx")),
                                            "pixels": False})
    want = _by_origin(raw, "features")
    got = imageflight.read_images(images, coordinator=model_cluster.location, **kw)
    assert _by_origin(got, "features") == want

    t = read_killing_a_worker(go_bins, model_root, images, kw)
    assert t.num_rows == len(want)
    assert _by_origin(t, "features") == want


def read_killing_a_worker(go_bins, root: str, images: str, kw: dict) -> pa.Table:
    """Reads images (one split) through a fresh coordinator and two workers, SIGKILLing the
    split's worker after its first batch; the client resumes on the other worker."""
    # One split of ~1 row per batch (--batch-bytes below one tensor), so the kill lands mid-split.
    c = Cluster(go_bins, root, workers=2,
                worker_args=["--onnxruntime-library", ort_library(), "--model-threads", "1", "--batch-bytes", "700000"])
    try:
        plan = imageflight.get_plan(imageflight.build_command(images, num_partitions=1, **kw), c.location)
        victim = c.worker_locations.index(plan.endpoints[0].locations[0])
        killed = []

        def hook(endpoint, location, batch):
            if location == c.worker_locations[victim] and not killed:
                c.workers[victim].kill(signal.SIGKILL)
                killed.append(batch.num_rows)

        stats = imageflight.ReadStats()
        t = imageflight.read_plan(plan, on_batch=hook, stats=stats, stall_timeout=10)
        assert killed and stats.resumes + stats.failovers >= 1, stats
        return t
    finally:
        c.close()


def test_spark_option_model(spark, model_cluster, model_root):
    """The Spark source with .option("model", ...): features as array<float>, equal to the raw
    protocol's, beside image and the argmax double."""
    images = os.path.join(model_root, "images")
    raw, _ = _read(model_cluster.location, {"path": images, "transforms": TRANSFORMS, "tensor": TENSOR,
                                            "model": model_spec(os.path.join(model_root, "models", "convnet.onnx"))})
    want = _by_origin(raw, "features")
    df = (spark.read.format("imageflight").option("coordinator", model_cluster.location)
          .option("transforms", json.dumps(TRANSFORMS)).option("tensor", json.dumps(TENSOR))
          .option("model", _client_model(model_root).json()).load(images))
    assert [f.name for f in df.schema.fields] == ["image", "features", "logits", "probability", "prediction"]
    assert df.schema["prediction"].dataType.simpleString() == "double"
    rows = df.select("image.origin", "features").collect()
    got = {r.origin: (None if r.features is None else [float(v) for v in r.features]) for r in rows}
    assert set(got) == set(want)
    for o, v in want.items():
        assert (v is None) == (got[o] is None)
        if v is not None:
            assert np.array_equal(np.asarray(v, np.float32), np.asarray(got[o], np.float32)), o


def test_cli_read_with_model(go_bins, model_cluster, model_root):
    """`coordinator read --model JSON` reads through the workers' model and summarises the rows."""
    import subprocess
    out = subprocess.run([go_bins["coordinator"], "read", os.path.join(model_root, "images"),
                          "--coordinator", model_cluster.location, "--transforms", json.dumps(TRANSFORMS),
                          "--tensor", json.dumps(TENSOR),
                          "--model", json.dumps(model_spec(os.path.join(model_root, "models", "convnet.onnx")))],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^rows +10 \(\d+ invalid\)$", out.stdout, re.M), out.stdout
    bad = subprocess.run([go_bins["coordinator"], "read", os.path.join(model_root, "images"),
                          "--coordinator", model_cluster.location, "--transforms", json.dumps(TRANSFORMS),
                          "--tensor", json.dumps(TENSOR),
                          "--model", json.dumps(model_spec(os.path.join(model_root, "models", "nope.onnx")))],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "nope.onnx does not exist" in bad.stderr, bad.stderr
