#!/usr/bin/env python3
"""Issue 10 benchmark: read + resize(224, keep aspect) + centercrop(224), delivered to the
caller as numpy arrays, on real photos — imageflight against what a user writes without it,
same files, same cores, one run, ratios printed.

    test/bench/photos.sh      # once: Debian wallpaper photos into ~/.cache/imageflight-bench
    .venv/bin/python test/bench/transform_bench.py --photos ~/.cache/imageflight-bench/photos \\
        [--images N] [--repeats R] [--ray-python /tmp/rayvenv/bin/python] [--skip a,b]

Methods (one untimed warm-up pass each, then --repeats timed passes, median reported):
  spark-udf   Spark format("image") (local[2]) + a pandas UDF doing the same resize/crop with
              OpenCV (cv2.resize INTER_LINEAR, SynapseML's keep-aspect rounding, centre crop),
              toPandas() with Arrow, then one (224, 224, c) array per row in the driver
  if-exact    imageflight read_images(transforms=Transforms().resize(224, keep_aspect_ratio=True)
              .centercrop(224, 224)), fastResize false: one (224, 224, c) view per row
  if-fast     the same with fast_resize=True (libjpeg-turbo DCT scaling, then the exact filter)
  if-tensor   the same + tensor=Tensor(auto_convert_to_color=True) (float32 C×H×W, fastResize
              on; gray photos made colour, as SynapseML's autoConvertToColor): the tensor column
              as one (n, 3, 224, 224) ndarray (zero-copy from Arrow)
  if-aa       if-fast with resize(224, interpolation="antialias") (torchvision's antialiased
              Resize; issue 20)
  if-spark    format("imageflight") with the same transforms and fastResize, toPandas()
  pool        Pillow: open, draft() to the smallest DCT scale >= the target, resize (BILINEAR)
              to the keep-aspect size, centre crop, BGR numpy, 2-process pool, bytes to the parent
  ray         Ray Data read_images(size=(224, 224)) (its own resize to 224x224, no crop; RGB),
              iterated as numpy batches, in --ray-python's interpreter
  inproc-*    BenchmarkDecodeDir with the same stages (Go, in-process, no Flight): the ceiling

Also reported: Arrow bytes per image on the wire before/after the transforms (sum of the
record batches' buffer sizes as received), PSNR of fastResize against the exact path on the
same photos (min / median / max), and how many Spark+OpenCV arrays equal imageflight's exact
ones byte for byte.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, Optional, Tuple

import pandas as pd  # noqa: F401  (the pandas UDF's type hints are resolved in this module)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_bench as pb  # noqa: E402

SIZE = 224
STAGES = [{"action": "resize", "size": SIZE, "keepAspectRatio": True},
          {"action": "centercrop", "height": SIZE, "width": SIZE}]


def target(h: int, w: int, size: int = SIZE) -> Tuple[int, int]:
    """SynapseML's resize(size, keepAspectRatio=true): shorter side to size, the other
    math.round(size / shorter * side) (ties up) — as pkg/transform computes it."""
    r = 1.0 * size / min(h, w)
    return int(math.floor(r * h + 0.5)), int(math.floor(r * w + 0.5))


def center(a, size: int = SIZE):
    h, w = a.shape[:2]
    ch, cw = min(size, h), min(size, w)
    y, x = h // 2 - ch // 2, w // 2 - cw // 2
    return a[y:y + ch, x:x + cw]


def _pil_draft(path: str) -> Tuple[str, int, int, int, bytes]:
    """Pillow with draft(): JPEGs decode at 1/2, 1/4 or 1/8 when that stays >= the target."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        th, tw = target(im.height, im.width)
        im.draft(im.mode, (tw, th))
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        im = im.resize((tw, th), Image.BILINEAR)
        a = center(np.asarray(im))
    if a.ndim == 2:
        a = a[..., None]
    else:
        a = a[..., ::-1]  # BGR, Spark's order
    a = np.ascontiguousarray(a)
    return os.path.basename(path), a.shape[0], a.shape[1], a.shape[2], a.tobytes()


def _udf_resize_crop(data: "pd.Series", h: "pd.Series", w: "pd.Series", c: "pd.Series") -> "pd.Series":
    """The pandas UDF body a Spark user writes: SynapseML's resize(224, keepAspectRatio) +
    centercrop(224) with OpenCV, on the BGR rows of format("image")."""
    import cv2
    import numpy as np
    import pandas as pd

    out = []
    for d, hh, ww, cc in zip(data, h, w, c):
        a = np.frombuffer(d, np.uint8).reshape(hh, ww, cc)
        th, tw = target(hh, ww)
        r = cv2.resize(a, (tw, th), interpolation=cv2.INTER_LINEAR)
        out.append(np.ascontiguousarray(center(r)).tobytes())
    return pd.Series(out)


def arrays_from_table(tbl, col: str = "image") -> Dict[str, "object"]:
    """origin basename -> (h, w, c) uint8 view into the received Arrow buffers (no copy)."""
    import numpy as np

    out = {}
    for chunk in tbl.column(col).chunks:
        origin, h, w, c, data = (chunk.field(k) for k in ("origin", "height", "width", "nChannels", "data"))
        offs = np.frombuffer(data.buffers()[1], dtype=np.int32)[data.offset:data.offset + len(data) + 1]
        vals = np.frombuffer(data.buffers()[2], dtype=np.uint8)
        hs, ws, cs = h.to_numpy(), w.to_numpy(), c.to_numpy()
        for i, o in enumerate(origin.to_pylist()):
            out[os.path.basename(o)] = vals[offs[i]:offs[i + 1]].reshape(hs[i], ws[i], cs[i])
    return out


def psnr(a, b) -> float:
    import numpy as np

    d = a.astype(np.float64) - b.astype(np.float64)
    mse = float(np.mean(d * d))
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", required=True, help="folder of real photos (test/bench/photos.sh)")
    ap.add_argument("--images", type=int, default=None, help="number of images (default: every photo once; "
                                                             "more replicates them)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ray-python", default=None)
    ap.add_argument("--skip", default="", help="comma list: spark-udf,if-exact,if-fast,if-tensor,if-aa,if-spark,"
                                               "pool,ray,inproc")
    ap.add_argument("--udf-batch", type=int, default=16,
                    help="spark.sql.execution.arrow.maxRecordsPerBatch for the pandas UDF (full-size "
                         "images go in; default 16)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    t_start = time.perf_counter()
    load0 = os.getloadavg()
    tmp = tempfile.mkdtemp(prefix="imageflight-transform-bench-")
    corpus = os.path.join(tmp, "corpus")
    os.makedirs(corpus)
    server: Optional[pb.Standalone] = None
    spark = None
    failures: List[str] = []
    try:
        files, mp, desc = pb.photo_corpus(args.photos, corpus, args.images)
        nbytes = sum(os.path.getsize(p) for p in files)
        print(f"corpus: {desc}, {mp:.1f} MP, {nbytes / 1e6:.1f} MB on disk -> {corpus}", flush=True)

        import subprocess

        bindir = os.path.join(tmp, "bin")
        subprocess.run(["go", "build", "-o", bindir + os.sep, "./cmd/coordinator"], cwd=pb.REPO, check=True)
        server = pb.Standalone(os.path.join(bindir, "coordinator"), corpus, tmp)
        print(f"standalone coordinator at {server.location} (capacity {pb.SLOTS})", flush=True)

        import numpy as np
        import imageflight
        import imageflight.spark
        from imageflight import Tensor, Transforms

        T = Transforms().resize(SIZE, keep_aspect_ratio=True).centercrop(SIZE, SIZE)
        assert T.to_json() == STAGES, T.to_json()
        results: Dict[str, dict] = {}
        outputs: Dict[str, Dict[str, object]] = {}
        wire: Dict[str, int] = {}

        def bench(name, label, fn, **kw):
            if name in skip:
                return

            def counted():
                arrs = fn()
                outputs[name] = arrs
                return len(arrs), int(sum(a.nbytes for a in arrs.values()))

            pb.run_method(results, failures, name, label, counted, args.repeats, server, **kw)

        # ---- Spark + pandas UDF with OpenCV
        if not {"spark-udf", "if-spark"} <= skip:
            t = time.perf_counter()
            spark = pb.spark_session(tmp)
            spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
            spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.udf_batch))
            imageflight.spark.register(spark)
            print(f"spark {spark.version} local[{pb.SLOTS}] up in {time.perf_counter() - t:.1f}s", flush=True)

        print("timing (1 warm-up pass, then --repeats passes):", flush=True)

        def via_spark_udf():
            from pyspark.sql import functions as F
            from pyspark.sql.functions import pandas_udf

            resize_crop = pandas_udf(_udf_resize_crop, "binary")

            df = spark.read.format("image").option("recursiveFileLookup", "true").load(corpus)
            pdf = df.select(F.col("image.origin").alias("o"), F.col("image.nChannels").alias("c"),
                            resize_crop("image.data", "image.height", "image.width", "image.nChannels")
                            .alias("px")).toPandas()
            return {os.path.basename(o): np.frombuffer(px, np.uint8).reshape(SIZE, SIZE, c)
                    for o, c, px in zip(pdf["o"], pdf["c"], pdf["px"])}

        bench("spark-udf", "Spark format(\"image\") + pandas UDF (cv2)", via_spark_udf,
              worker="jvm+py", caller="self")

        def via_if(fast: bool, tensor: bool, key: str, transforms=None):
            def run():
                n = [0]

                def on_batch(i, loc, b):
                    n[0] += b.nbytes

                tbl = imageflight.read_images(corpus, coordinator=server.location, recursive=True,
                                              transforms=transforms or T, fast_resize=fast,
                                              tensor=Tensor(auto_convert_to_color=True) if tensor else None, on_batch=on_batch)
                wire[key] = n[0]
                if not tensor:
                    return arrays_from_table(tbl)
                origins = [os.path.basename(o) for o in tbl.column("image").combine_chunks()
                           .field("origin").to_pylist()]
                out, i = {}, 0
                for chunk in tbl.column("tensor").chunks:
                    nd = chunk.to_numpy_ndarray()  # (n, 3, 224, 224) float32, zero-copy
                    for k in range(nd.shape[0]):
                        out[origins[i]] = nd[k]
                        i += 1
                return out
            return run

        bench("if-exact", "imageflight read_images, fastResize off", via_if(False, False, "if-exact"))
        bench("if-fast", "imageflight read_images, fastResize on", via_if(True, False, "if-fast"))
        bench("if-tensor", "imageflight read_images + tensor, fastResize on", via_if(True, True, "if-tensor"))
        bench("if-aa", "imageflight read_images, antialias resize, fastResize on",
              via_if(True, False, "if-aa", Transforms().resize(SIZE, interpolation="antialias").centercrop(SIZE, SIZE)))

        def via_if_spark():
            df = (spark.read.format("imageflight").option("coordinator", server.location)
                  .option("recursive", "true").option("transforms", json.dumps(STAGES))
                  .option("fastResize", "true").load(corpus))
            pdf = df.select("image.origin", "image.height", "image.width", "image.nChannels",
                            "image.data").toPandas()
            return {os.path.basename(o): np.frombuffer(d, np.uint8).reshape(h, w, c)
                    for o, h, w, c, d in zip(pdf["origin"], pdf["height"], pdf["width"],
                                             pdf["nChannels"], pdf["data"])}

        bench("if-spark", "imageflight Spark source, fastResize on", via_if_spark, caller="jvm+py")

        def via_pool():
            out = {}
            with ProcessPoolExecutor(pb.SLOTS) as pool:
                for name, h, w, c, data in pool.map(_pil_draft, files, chunksize=2):
                    out[name] = np.frombuffer(data, np.uint8).reshape(h, w, c)
            return out

        bench("pool", "Pillow draft()+resize, 2-proc pool", via_pool, worker="pool")

        if "ray" not in skip:
            pb.run_ray(results, failures, args.ray_python, corpus, args.repeats, size=SIZE,
                       label_suffix="(size=224x224)")
        if "inproc" not in skip:
            pb.run_inproc(results, failures, corpus, tmp, args.repeats, transforms=json.dumps(STAGES),
                          fast=False, name="inproc-exact", label="in-process Go decode+transforms")
            pb.run_inproc(results, failures, corpus, tmp, args.repeats, transforms=json.dumps(STAGES),
                          fast=True, name="inproc-fast", label="in-process Go, fastResize on")

        # ---- wire bytes before the transforms: one plain read (untimed)
        try:
            n = [0]
            imageflight.read_images(corpus, coordinator=server.location, recursive=True,
                                    on_batch=lambda i, loc, b: n.__setitem__(0, n[0] + b.nbytes))
            wire["plain"] = n[0]
        except Exception as err:
            failures.append(f"plain read: {err}")

        # ---- checks
        for k, r in results.items():
            if r["rows"] is not None and r["rows"] != len(files):
                failures.append(f"{r['label']}: {r['rows']} rows, expected {len(files)}")
        checks = []
        ex = outputs.get("if-exact")
        if ex:
            for k, a in outputs.items():
                if k == "if-tensor":
                    continue
                if len(a) and any(v.shape[:2] != (SIZE, SIZE) for v in a.values()):
                    failures.append(f"{results[k]['label']}: not every array is {SIZE}x{SIZE}")
            if "spark-udf" in outputs:
                su = outputs["spark-udf"]
                same = sum(1 for b, v in ex.items() if b in su and v.shape == su[b].shape and np.array_equal(v, su[b]))
                checks.append(f"imageflight exact == Spark + cv2 UDF byte for byte: {same} of {len(ex)} images")
                if same != len(ex):
                    worst = min(psnr(v, su[b]) for b, v in ex.items() if b in su and v.shape == su[b].shape)
                    checks.append(f"  (lowest PSNR of the others {worst:.1f} dB)")
            for k, what in (("if-fast", "fastResize on"), ("pool", "Pillow draft()+BILINEAR")):
                o = outputs.get(k)
                if not o:
                    continue
                ps = sorted(psnr(v, o[b]) for b, v in ex.items() if b in o and v.shape == o[b].shape)
                if ps:
                    fin = [p for p in ps if p != float("inf")]
                    checks.append(f"PSNR {what} vs exact (decode + OpenCV resize + crop), {len(ps)} images: "
                                  f"min {ps[0]:.2f} dB, median {statistics.median(ps):.2f} dB, max {ps[-1]:.2f} dB"
                                  f" ({len(ps) - len(fin)} identical)")
                    if k == "if-fast":
                        worst = sorted((psnr(v, o[b]), b) for b, v in ex.items() if b in o)[:3]
                        checks.append("  lowest: " + ", ".join(f"{b} {p:.2f} dB" for p, b in worst))

            # A filtered reference: OpenCV INTER_AREA (box average over every source pixel) from
            # the full decode. INTER_LINEAR at 1/5..1/25 reads 2 of every 5..25 rows and columns
            # (aliasing); DCT scaling and Pillow's BILINEAR (support scaled to the reduction)
            # average them — so PSNR to exact alone does not say which is closer to the photo.
            try:
                import cv2

                ref = {}
                for p in files:
                    b = os.path.basename(p)
                    if b in ex and b not in ref:
                        a = cv2.imread(p, cv2.IMREAD_UNCHANGED)
                        if a.ndim == 2:
                            a = a[..., None]
                        th, tw = target(a.shape[0], a.shape[1])
                        r = cv2.resize(a, (tw, th), interpolation=cv2.INTER_AREA)
                        ref[b] = center(r.reshape(th, tw, a.shape[2]))
                for k, what in (("if-exact", "exact (INTER_LINEAR)"), ("if-fast", "fastResize on"),
                                ("pool", "Pillow draft()+BILINEAR")):
                    o = outputs.get(k)
                    if o:
                        ps = sorted(psnr(o[b], r) for b, r in ref.items() if b in o and o[b].shape == r.shape)
                        checks.append(f"PSNR {what} vs INTER_AREA from the full decode, {len(ps)} images: "
                                      f"min {ps[0]:.2f} dB, median {statistics.median(ps):.2f} dB")
            except ImportError:
                pass

        # ---- table
        print()
        print(f"{len(files)} images, {mp:.1f} MP, {nbytes / 1e6:.1f} MB; read + resize({SIZE}, keep aspect) + "
              f"centercrop({SIZE}) -> arrays; {pb.SLOTS} slots on {os.cpu_count()} cores, median of "
              f"{args.repeats}; load average at start {load0[0]:.1f}, now {os.getloadavg()[0]:.1f}")
        pb.print_table(results, "spark-udf", len(files), mp)
        print("(MP/s and MP/CPU-s count source megapixels)")
        print()
        for mine in ("if-exact", "if-fast", "if-tensor"):
            pb.print_ratios(results, mine, [("spark-udf", 10.0), ("pool", 1.5), ("ray", 1.5)])
        print()
        n = len(files)
        print(f"bytes per image: file {nbytes / n / 1e6:.2f} MB; on the wire (Arrow record batches as "
              f"received): " + ", ".join(f"{k} {v / n / 1e6:.3f} MB" for k, v in
                                         (("no transforms", wire.get("plain")), ("transforms", wire.get("if-exact")),
                                          ("transforms fastResize", wire.get("if-fast")),
                                          ("transforms + tensor", wire.get("if-tensor"))) if v))
        if wire.get("plain") and wire.get("if-fast"):
            print(f"  {wire['plain'] / wire['if-fast']:.0f}x fewer bytes with the transforms")
        for c in checks:
            print(c)
        return pb.finish(failures, t_start)
    finally:
        pb.cleanup(tmp, args.keep, spark=spark, server=server)


if __name__ == "__main__":
    sys.exit(main())
