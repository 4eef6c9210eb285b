"""Reads a path through an imageflight coordinator with plain pyarrow, once with a
`model` (its file at model_uri, e.g. on HDFS) and once with the tensor alone, runs
onnxruntime's Python API on those tensors with the same model (a local copy at
model_file), and prints {"rows", "checked", "max_diff"} as JSON. Used by the Go
end-to-end tests for models served from HDFS."""
import json
import sys

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.flight as fl

coordinator, path, model_uri, model_file, side = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
opts = [("grpc.max_receive_message_length", -1)]
base = {"path": path, "recursive": True, "numPartitions": 4,
        "transforms": [{"action": "resize", "height": side, "width": side}], "tensor": {"colorScaleFactor": 1 / 255}}


def read(cmd):
    info = fl.FlightClient(coordinator, generic_options=opts).get_flight_info(
        fl.FlightDescriptor.for_command(json.dumps(cmd)))
    t = pa.concat_tables(fl.FlightClient(ep.locations[0], generic_options=opts).do_get(ep.ticket).read_all()
                         for ep in info.endpoints)
    return dict(zip(t.column("image").combine_chunks().field("origin").to_pylist(), t.column(t.schema.names[1]).to_pylist()))


tensors = read(base)
feats = read({**base, "model": {"modelLocation": model_uri, "feedDict": {"x": "tensor"}, "fetchDict": {"features": "features"}}})
sess = ort.InferenceSession(model_file, providers=["CPUExecutionProvider"])
worst, checked = 0.0, 0
assert set(tensors) == set(feats), "different rows"
for origin, t in tensors.items():
    if t is None:
        assert feats[origin] is None, origin
        continue
    (want,) = sess.run(["features"], {"x": np.asarray(t, np.float32).reshape(1, 3, side, side)})
    worst = max(worst, float(np.abs(np.asarray(feats[origin], np.float32) - want[0]).max()))
    checked += 1
print(json.dumps({"rows": len(tensors), "checked": checked, "max_diff": worst}))
