"""Issue 21 benchmark: images -> 512-float ResNet-18 features on real photos, resize 256 +
centercrop 224 + ImageNet normalisation, same files, same 2 cores, one run, ratios printed.

    test/bench/photos.sh      # once: Debian wallpaper photos into ~/.cache/imageflight-bench
    /work/final/.venv/bin/python test/bench/model_bench.py --photos "$(test/bench/photos.sh)" \
        [--repeats 3] [--ray-python /tmp/rayvenv/bin/python] [--skip a,b]

ResNet-18's architecture is built with onnx.helper (batch norm folded into the convolutions,
He-initialised seeded weights: the arithmetic of the real network, not its trained values; no
PyTorch, no download). Methods (one untimed warm-up pass each, then --repeats timed passes,
median reported; CPU-seconds of the whole process tree — this script, the imageflight server,
the Spark JVM and its Python workers, Ray's processes):

  workers   imageflight's workers: `model` in the descriptor, "pixels": false, read with
            pyarrow Flight; the standalone server (--capacity 2: two decode slots, two model
            calls at once, one intra-op thread each) decodes, transforms and runs the model
  if-spark  the same descriptor through Spark 4's Python data source (format("imageflight")
            .option("model", ...)), local[2]: features on the workers, into a DataFrame
  spark     Spark + pandas UDF + onnxruntime on the tensor column: format("imageflight") with
            the transforms and `tensor` options, local[2] (the tensor comes with the transformed
            pixels: "pixels": false needs a model), a pandas UDF running
            ResNet-18 (onnxruntime, 1 intra-op thread per Python worker) on the array<float>
            tensor column -> array<float> features, toPandas()
  client    the tensor read with pyarrow + onnxruntime in this process (2 threads)
  ray       Ray Data read_images (RGB) + map_batches: Pillow resize 256 (bilinear, keep aspect)
            + centre crop 224 + normalisation + onnxruntime (1 thread per task, 2 CPUs), in
            --ray-python's interpreter (ray is not a project dependency); one fused task per
            block (read + preprocess + inference), each worker process keeping its session

Also: bytes on the wire per image (Arrow record batches as received from the server; Ray reads
the files itself: their bytes), the largest |diff| between the workers' features and Spark's /
the client's (same tensors, same library: 0 expected), and the load average.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

import pandas as pd  # noqa: F401  (the pandas UDF's type hints are resolved in this module)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_bench as pb  # noqa: E402

TRANSFORMS = [{"action": "resize", "size": 256, "keepAspectRatio": True},
              {"action": "centercrop", "height": 224, "width": 224}]
TENSOR = {"normalizeMean": [0.485, 0.456, 0.406], "normalizeStd": [0.229, 0.224, 0.225], "colorScaleFactor": 1 / 255,
          "autoConvertToColor": True}  # gray photos become 3-channel, as torchvision's convert("RGB")
MEAN, STD = TENSOR["normalizeMean"], TENSOR["normalizeStd"]
BATCH = 32  # images per inference call for the client, Spark and Ray


def resnet18(seed: int = 0) -> bytes:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

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


ENDPOINTS: Dict[bool, int] = {}  # streams of the last plan, by whether it has a model


def read(location, cmd):
    """Plans cmd and reads every endpoint in parallel, as the clients do: (table, bytes)."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa
    import pyarrow.flight as fl

    client = fl.FlightClient(location)
    info = client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(cmd).encode()))

    def one(ep):
        uri = ep.locations[0].uri
        return [chunk.data for chunk in fl.FlightClient(uri.decode() if isinstance(uri, bytes) else uri).do_get(ep.ticket)]

    ENDPOINTS[cmd.get("model") is not None] = len(info.endpoints)
    with ThreadPoolExecutor(max(1, len(info.endpoints))) as pool:
        batches = [b for bs in pool.map(one, info.endpoints) for b in bs]
    return pa.Table.from_batches(batches, schema=info.schema), sum(b.nbytes for b in batches)


_SESSIONS: Dict[str, object] = {}


def session(model: str, threads: int = 1):
    """One onnxruntime session per process and model (a Spark Python worker keeps it across
    batches: spark.python.worker.reuse)."""
    import onnxruntime as ort

    if model not in _SESSIONS:
        o = ort.SessionOptions()
        o.intra_op_num_threads, o.inter_op_num_threads = threads, 1
        _SESSIONS[model] = ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])
    return _SESSIONS[model]


def features(model: str, x, threads: int = 1):
    import numpy as np

    s = session(model, threads)
    return np.concatenate([s.run(["features"], {"input": x[i:i + BATCH]})[0] for i in range(0, len(x), BATCH)])


def spark_udf(model: str):
    """The pandas UDF a Spark user writes: array<float> tensors -> array<float> features."""
    import numpy as np
    from pyspark.sql.functions import pandas_udf

    def run(t: pd.Series) -> pd.Series:
        x = np.stack(t.to_numpy()).astype(np.float32, copy=False).reshape(-1, 3, 224, 224)
        return pd.Series(list(features(model, x)))

    return pandas_udf(run, "array<float>")


def ray_child(corpus: str, model: str, repeats: int) -> None:
    """Runs in the Ray interpreter: one JSON line with walls, rows, CPU-s of Ray's process tree,
    peak RSS (summed VmRSS of the driver's descendants, sampled, + the driver's VmHWM)."""
    import numpy as np
    import ray
    from PIL import Image

    ray.init(num_cpus=pb.SLOTS, include_dashboard=False, log_to_driver=False, object_store_memory=1 << 30)
    ray.data.DataContext.get_current().enable_progress_bars = False
    mean = np.array(MEAN, np.float32).reshape(3, 1, 1)
    std = np.array(STD, np.float32).reshape(3, 1, 1)

    def featurize(batch):
        # A task function, not an actor: Ray fuses it with the read tasks (decode, resize and
        # inference in one task, no object-store hop); each worker process keeps its session.
        xs = []
        for a in batch["image"]:
            im = Image.fromarray(a)
            r = 256 / min(im.width, im.height)
            im = im.resize((round(im.width * r), round(im.height * r)), Image.BILINEAR)
            left, top = (im.width - 224) // 2, (im.height - 224) // 2
            im = im.crop((left, top, left + 224, top + 224))
            xs.append((np.asarray(im, np.float32).transpose(2, 0, 1) / 255 - mean) / std)
        x = np.stack(xs).astype(np.float32)
        return {"path": batch["path"], "features": session(model, 1).run(["features"], {"input": x})[0]}

    def once() -> int:
        ds = ray.data.read_images(corpus, mode="RGB", include_paths=True, override_num_blocks=2 * pb.SLOTS)
        ds = ds.map_batches(featurize, batch_size=8, batch_format="numpy")
        return sum(len(b["features"]) for b in ds.iter_batches(batch_size=BATCH, batch_format="numpy"))

    once()  # warm: worker processes, imports
    walls, n, me = [], 0, os.getpid()
    pb.reset_peak(me)
    cpu0 = pb.tree_cpu()
    with pb.RSSSampler(lambda: list(pb.descendants(me))) as rs:
        for _ in range(repeats):
            t = time.perf_counter()
            n = once()
            walls.append(time.perf_counter() - t)
    print(json.dumps({"walls": walls, "rows": n, "ray": ray.__version__, "cpu": (pb.tree_cpu() - cpu0) / repeats,
                      "worker_rss": rs.peak_kb / 1024, "caller_rss": pb._status_kb(me, "VmHWM") / 1024}))
    ray.shutdown()


def run_ray(results, failures, ray_python, corpus, model, repeats) -> None:
    try:
        r = subprocess.run([ray_python, os.path.abspath(__file__), "--ray-child", corpus, "--model", model,
                            "--repeats", str(repeats)], capture_output=True, text=True, timeout=1800,
                           start_new_session=True, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
        line = [x for x in r.stdout.splitlines() if x.startswith("{")]
        if r.returncode != 0 or not line:
            raise RuntimeError(f"exit {r.returncode}: {r.stderr[-2000:]}")
        out = json.loads(line[-1])
        label = f"Ray Data {out['ray']} read_images + map_batches(onnxruntime)"
        results["ray"] = {"label": label, "walls": out["walls"], "rows": out["rows"], "bytes": None, "server_cpu": None,
                          "cpu": out["cpu"], "worker_rss": out["worker_rss"], "caller_rss": out["caller_rss"]}
        print(f"  {label}: median {statistics.median(out['walls']):.2f}s over {[round(w, 2) for w in out['walls']]}, "
              f"CPU {out['cpu']:.2f}s/pass, peak RSS workers {out['worker_rss']:.0f} MB driver {out['caller_rss']:.0f} MB",
              flush=True)
    except Exception as err:
        failures.append(f"Ray Data: {type(err).__name__}: {err}")
        print(f"  Ray Data: FAILED {err}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", help="folder of real photos (test/bench/photos.sh)")
    ap.add_argument("--images", type=int, default=None, help="number of images (default: every photo once)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ray-python", default=None)
    ap.add_argument("--skip", default="", help="comma list: workers,if-spark,spark,client,ray")
    ap.add_argument("--model-threads", type=int, default=None, help="the server's --model-threads (default: its own)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--write-model", metavar="PATH", help="only write the ResNet-18 model to PATH")
    ap.add_argument("--ray-child", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ray_child:
        ray_child(args.ray_child, args.model, args.repeats)
        return 0
    if args.write_model:
        with open(args.write_model, "wb") as f:
            f.write(resnet18())
        return 0
    if not args.photos:
        ap.error("--photos is required")
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}

    import numpy as np
    import onnxruntime as ort

    t_start, load0 = time.perf_counter(), os.getloadavg()
    tmp = tempfile.mkdtemp(prefix="imageflight-model-bench-")
    corpus = os.path.join(tmp, "corpus")
    os.makedirs(corpus)
    server, spark, failures = None, None, []
    try:
        files, mp, desc = pb.photo_corpus(args.photos, corpus, args.images)
        n = len(files)
        nbytes = sum(os.path.getsize(p) for p in files)
        print(f"corpus: {desc}, {mp:.1f} MP, {nbytes / 1e6:.1f} MB on disk", flush=True)
        model = os.path.join(tmp, "models", "resnet18.onnx")
        os.makedirs(os.path.dirname(model))
        with open(model, "wb") as f:
            f.write(resnet18())
        lib = sorted(glob.glob(os.path.join(os.path.dirname(ort.__file__), "capi", "libonnxruntime.so*")))[-1]
        bindir = os.path.join(tmp, "bin")
        subprocess.run(["go", "build", "-o", bindir + os.sep, "./cmd/coordinator"], cwd=pb.REPO, check=True)
        sargs = ("--onnxruntime-library", lib) + (("--model-threads", str(args.model_threads)) if args.model_threads else ())
        server = pb.Standalone(os.path.join(bindir, "coordinator"), tmp, tmp, sargs)
        print(f"standalone coordinator at {server.location} (capacity {pb.SLOTS}, {' '.join(sargs[2:]) or 'default model threads'}),"
              f" ONNX Runtime {ort.__version__}", flush=True)

        base = {"path": corpus, "transforms": TRANSFORMS, "tensor": TENSOR}
        spec = {"modelLocation": model, "feedDict": {"input": "tensor"}, "fetchDict": {"features": "features"},
                "miniBatchSize": BATCH}
        results: Dict[str, dict] = {}
        feats: Dict[str, Dict[str, np.ndarray]] = {}
        wire: Dict[str, int] = {}

        def keyed(origins, rows):
            return {os.path.basename(o): np.asarray(r, np.float32) for o, r in zip(origins, rows)}

        def bench(name, label, fn, **kw):
            if name not in skip:
                pb.run_method(results, failures, name, label, lambda: (fn(), 0), args.repeats, server, **kw)

        def via_workers():
            tbl, wire["workers"] = read(server.location, {**base, "model": spec, "pixels": False})
            img = tbl.column("image").combine_chunks()
            feats["workers"] = keyed(img.field("origin").to_pylist(), tbl.column("features").combine_chunks().to_numpy_ndarray())
            return tbl.num_rows

        def via_client():
            tbl, wire["tensor"] = read(server.location, base)
            x = tbl.column("tensor").combine_chunks().to_numpy_ndarray()
            img = tbl.column("image").combine_chunks()
            feats["client"] = keyed(img.field("origin").to_pylist(), features(model, x, pb.SLOTS))
            return tbl.num_rows

        if not {"spark", "if-spark"} <= skip:
            import imageflight.spark

            t = time.perf_counter()
            spark = pb.spark_session(tmp)
            spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
            spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH))
            imageflight.spark.register(spark)
            print(f"spark {spark.version} local[{pb.SLOTS}] up in {time.perf_counter() - t:.1f}s", flush=True)

        def spark_reader(**opts):
            r = spark.read.format("imageflight").option("coordinator", server.location)
            for k, v in opts.items():
                r = r.option(k, v)
            return r.load(corpus)

        def via_spark():
            df = spark_reader(transforms=json.dumps(TRANSFORMS), tensor=json.dumps(TENSOR))
            pdf = df.select("image.origin", spark_udf(model)("tensor").alias("features")).toPandas()
            feats["spark"] = keyed(pdf["origin"], pdf["features"])
            return len(pdf)

        def via_if_spark():
            df = spark_reader(transforms=json.dumps(TRANSFORMS), tensor=json.dumps(TENSOR), pixels="false",
                              model=json.dumps(spec))
            pdf = df.select("image.origin", "features").toPandas()
            feats["if-spark"] = keyed(pdf["origin"], pdf["features"])
            return len(pdf)

        print("timing (1 warm-up pass, then --repeats passes):", flush=True)
        bench("workers", "imageflight workers (`model`, pixels false)", via_workers)
        bench("if-spark", "imageflight Spark source + `model` option", via_if_spark, caller="jvm+py")
        bench("spark", "Spark + pandas UDF + onnxruntime on the tensor", via_spark, caller="jvm+py")
        bench("client", "imageflight tensor + onnxruntime in the client", via_client)
        if "ray" not in skip:
            ray_py = pb.find_ray_python(args.ray_python)
            if ray_py is None:
                print("  Ray Data: skipped (pass --ray-python PY with ray[data], onnxruntime, pillow)", flush=True)
            else:
                run_ray(results, failures, ray_py, corpus, model, args.repeats)

        for k, r in results.items():
            if r["rows"] != n:
                failures.append(f"{r['label']}: {r['rows']} rows, expected {n}")
        w = feats.get("workers")
        diffs = {}
        for k, other in feats.items():
            if k != "workers" and w:
                if set(other) != set(w):
                    failures.append(f"{k}: other images than the workers'")
                    continue
                diffs[k] = max(float(np.abs(w[o] - other[o]).max()) for o in w)
                if k != "ray" and diffs[k] > 1e-5:
                    failures.append(f"{k}: features differ from the workers' by {diffs[k]:.3g}")

        load1 = os.getloadavg()
        print()
        print(f"{n} images, {mp:.1f} MP, {nbytes / 1e6:.1f} MB; resize 256 + centercrop 224 + normalise + ResNet-18 -> "
              f"512 floats; {pb.SLOTS} slots on {os.cpu_count()} cores, median of {args.repeats}; load average "
              f"at start {load0[0]:.1f}/{load0[1]:.1f}/{load0[2]:.1f}, at end {load1[0]:.1f}/{load1[1]:.1f}/{load1[2]:.1f}")
        per = {"workers": wire.get("workers"), "if-spark": wire.get("workers"), "spark": wire.get("tensor"),
               "client": wire.get("tensor"), "ray": nbytes}
        mine = results.get("workers")
        print("| method | images/s | CPU-s | peak RSS (MB: server + caller) | bytes per image | wall vs workers | CPU vs workers |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for k, r in results.items():
            wall = statistics.median(r["walls"])
            rss = " + ".join(f"{v:.0f}" for v in (r.get("worker_rss"), r.get("caller_rss")) if v)
            b = per.get(k)
            bs = (f"{b / n:,.0f}" + (" (files read)" if k == "ray" else "")) if b else "n/a"
            vw = f"{wall / statistics.median(mine['walls']):.2f}x" if mine else "n/a"
            vc = f"{r['cpu'] / mine['cpu']:.2f}x" if mine and r.get("cpu") and mine.get("cpu") else "n/a"
            print(f"| {r['label']} | {n / wall:.1f} | {r['cpu']:.1f} | {rss} | {bs} | {vw} | {vc} |")
        print(f"streams per read: {ENDPOINTS.get(True)} with the model, {ENDPOINTS.get(False)} for the tensor")
        if wire.get("workers") and wire.get("tensor"):
            print(f"wire: the workers send {wire['tensor'] / wire['workers']:.0f}x fewer bytes than the tensor read "
                  f"(the tensor alone is {3 * 224 * 224 * 4:,} bytes per image; target >= 50x)")
        for k, d in diffs.items():
            print(f"features max |diff| workers vs {k}: {d:.3g}" + (" (Pillow's resize, not the same tensors)" if k == "ray" else ""))
        if mine:
            for k in ("spark", "ray"):
                if k in results:
                    r = results[k]
                    print(f"workers vs {r['label']}: {statistics.median(r['walls']) / statistics.median(mine['walls']):.2f}x "
                          f"wall, {r['cpu'] / mine['cpu']:.2f}x CPU (target >= 1x)")
        return pb.finish(failures, t_start)
    finally:
        pb.cleanup(tmp, args.keep, spark=spark, server=server)


if __name__ == "__main__":
    sys.exit(main())
