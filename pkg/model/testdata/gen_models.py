"""Writes the small real ONNX graphs pkg/model's tests run, and their goldens.

The graphs are built with onnx.helper (no PyTorch) from seeded weights; the
goldens are what onnxruntime's Python API computes on seeded inputs (the
reference), with SynapseML's softmax (exp(x - logsumexp(x)) in double) and
argmax (first maximum, as a double) computed by numpy from those outputs.

    python pkg/model/testdata/gen_models.py   # from the repository root
"""
import base64
import json
import pathlib

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = pathlib.Path(__file__).resolve().parent


def convnet(batch, name):
    """Conv 3->5 (3x3, pad 1) + Relu + GlobalAveragePool + Flatten = features [N, 5];
    Gemm 5->4 = logits [N, 4]: a real (tiny) image classifier."""
    rng = np.random.default_rng(7)
    w = numpy_helper.from_array(rng.standard_normal((5, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "b")
    fc = numpy_helper.from_array(rng.standard_normal((4, 5)).astype(np.float32), "fc")
    fcb = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "fcb")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["features"]),
        helper.make_node("Gemm", ["features", "fc", "fcb"], ["logits"], transB=1),
    ]
    n = batch if batch else "N"
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, 3, 4, 4])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [n, 5]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, [n, 4])],
        [w, b, fc, fcb])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def meannet():
    """Double input [N, 3, 4, 4] -> per-channel mean, double [N, 3]."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["mean"], axes=[2, 3], keepdims=0)], "meannet",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 3, 4, 4])],
        [helper.make_tensor_value_info("mean", TensorProto.DOUBLE, ["N", 3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def slownet():
    """Input [N, 3, 4, 4] -> features [N, 48] through a Loop of 2^62 Sin steps:
    a call that never ends by itself, so a test can see a cancelled stream
    terminate a running call (no golden)."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Sin", ["v_in"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trips", "cond", "x"], ["looped"], body=body),
         helper.make_node("Flatten", ["looped"], ["features"])], "slownet",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 48])],
        [numpy_helper.from_array(np.array(1 << 62, np.int64), "trips"), numpy_helper.from_array(np.array(True), "cond")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def b64(a, dtype):
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode()


def softmax(v):
    v = v.astype(np.float64)
    m = v.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(v - m).sum(axis=1, keepdims=True))
    return np.exp(v - lse)


def main():
    models = {"convnet.onnx": convnet(None, "convnet"), "convnet_b1.onnx": convnet(1, "convnet_b1"), "meannet.onnx": meannet(),
              "slownet.onnx": slownet()}
    for name, m in models.items():
        onnx.checker.check_model(m)
        (HERE / name).write_bytes(m.SerializeToString())
    rng = np.random.default_rng(11)
    x = rng.standard_normal((7, 3, 4, 4)).astype(np.float32)
    goldens = {"comment": "written by gen_models.py with onnxruntime " + ort.__version__, "cases": []}
    for name in ("convnet.onnx", "convnet_b1.onnx"):
        s = ort.InferenceSession(str(HERE / name), providers=["CPUExecutionProvider"])
        feats, logits = [], []
        for i in range(7):  # one row at a time: the reference does not batch
            f, l = s.run(["features", "logits"], {"x": x[i:i + 1]})
            feats.append(f[0])
            logits.append(l[0])
        feats, logits = np.array(feats), np.array(logits)
        prob = softmax(logits)
        goldens["cases"].append({"model": name, "input_shape": list(x.shape), "input": b64(x, "<f4"),
                                 "outputs": {"features": b64(feats, "<f4"), "logits": b64(logits, "<f4")},
                                 "softmax": {"logits": b64(prob, "<f8")},
                                 "argmax": {"logits": b64(prob.argmax(axis=1).astype(np.float64), "<f8")}})
    xd = x.astype(np.float64)
    s = ort.InferenceSession(str(HERE / "meannet.onnx"), providers=["CPUExecutionProvider"])
    (mean,) = s.run(["mean"], {"x": xd})
    goldens["cases"].append({"model": "meannet.onnx", "input_shape": list(x.shape), "double": True, "input": b64(xd, "<f8"),
                             "outputs": {"mean": b64(mean, "<f8")}})
    (HERE / "goldens.json").write_text(json.dumps(goldens, indent=1) + "\n")


if __name__ == "__main__":
    main()
