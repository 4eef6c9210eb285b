"""count() and select("image.height") on one folder: imageflight with pixels=false (and
with full decodes) against spark.read.format("image"). Not a test; run it by hand:

    .venv/bin/python test/python/bench_spark_count.py [FOLDER]

Without FOLDER it writes 200 JPEGs of 1600x1200 in two cls=... folders to a temp dir.
Figures are best of a few warm runs (the first of each includes JVM/Python worker start)."""

from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from servers import Cluster, build_binaries  # noqa: E402


def photos(d: str) -> str:
    rng = np.random.default_rng(1)
    for c in ("cat", "dog"):
        os.makedirs(f"{d}/cls={c}")
        for i in range(100):
            base = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            Image.fromarray(base).resize((1600, 1200), Image.BICUBIC).save(f"{d}/cls={c}/{i:03d}.jpg", quality=90)
    return d


def timed(name, f, n=3):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        v = f()
        times.append(time.perf_counter() - t0)
    print(f"{name:52s} {v:6d} rows  best {min(times):6.2f} s  runs {[round(t, 2) for t in times]}", flush=True)


def main() -> None:
    tmp = tempfile.mkdtemp(prefix="imageflight-bench-")
    folder = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else photos(os.path.join(tmp, "photos"))
    cluster = Cluster(build_binaries(os.path.join(tmp, "bin")), folder)
    try:
        from pyspark.sql import SparkSession

        import imageflight.spark

        s = SparkSession.builder.master("local[2]").config("spark.driver.memory", "2g").getOrCreate()
        s.sparkContext.setLogLevel("ERROR")
        imageflight.spark.register(s)

        def ours():
            return s.read.format("imageflight").option("coordinator", cluster.location)

        timed("spark format(image) count()", lambda: s.read.format("image").load(folder).count())
        timed("imageflight pixels=false count()", lambda: ours().option("pixels", "false").load(folder).count())
        timed("imageflight count() (full decode)", lambda: ours().load(folder).count(), n=2)
        timed("spark format(image) select(height).collect()",
              lambda: len(s.read.format("image").load(folder).select("image.height").collect()), n=2)
        timed("imageflight pixels=false select(height).collect()",
              lambda: len(ours().option("pixels", "false").load(folder).select("image.height").collect()))
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
