#!/usr/bin/env python3
"""Peer benchmark: imageflight against Spark's own image source (and a plain-Python
decode pool, and Ray Data when available) on the SAME files, same machine, same run.

    .venv/bin/python test/bench/peer_bench.py [--images N] [--size WxH] [--repeats R]

What it does (everything in a temp dir that is removed at the end, every process it
starts is killed by its own pid / process group):

1. Writes a deterministic corpus of photo-like images (smooth gradients + shapes + noise,
   light blur): mostly JPEG quality 90 (a 640x480 / 1920x1080 mix, or --size WxH), plus
   ~10 % PNG.
2. Builds ./cmd/coordinator and starts ``coordinator --standalone --capacity 2``.
3. Times, after one untimed warm-up pass each (warm JVM, warm page cache):
   a. ``spark.read.format("image")`` (Spark's ImageIO + getRGB decode), local[2];
   b. ``imageflight.read_images`` (pyarrow, all pixels delivered to this process);
   c. ``spark.read.format("imageflight")`` (Python data source, Arrow batches), local[2];
   d. plain Python: Pillow decode + numpy RGB->BGR in a 2-process pool, pixels returned
      to the parent (a stand-in for Ray Data read_images / SynapseML);
   e. Ray Data ``read_images`` when ``--ray-python`` (or this interpreter) can import ray.
   Both Spark reads materialise every image with
   ``select(count(*), sum(length(image.data))).collect()``.
4. Checks that every method returns the same row count and the same total pixel bytes,
   and that a few JPEG/PNG rows are byte-identical to Spark's.
5. Prints images/s, MP/s, wall seconds (median of --repeats) and the ratio to Spark's
   image source measured in this run.

The ratio is the result; absolute numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Dict, List, Optional, Tuple

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SLOTS = 2  # decode slots for the standalone server, executors for Spark, pool size


# --------------------------------------------------------------------------- corpus


def _photo(w: int, h: int, seed: int):
    """A photo-like RGB image: smooth colour gradients, soft shapes, sensor noise."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    img = np.empty((h, w, 3), dtype=np.float32)
    for c in range(3):
        a, b, f, p = rng.uniform(-120, 120), rng.uniform(-120, 120), rng.uniform(1, 4), rng.uniform(0, 6.3)
        img[..., c] = 128 + a * x + b * y + 40 * np.sin(f * (x + y) * 3.14 + p)
    base = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(base)
    for _ in range(int(rng.integers(6, 14))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 20, w // 3)), y0 + int(rng.integers(h // 20, h // 3))
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            d.ellipse([x0, y0, x1, y1], fill=col)
        else:
            d.rectangle([x0, y0, x1, y1], fill=col)
    base = base.filter(ImageFilter.GaussianBlur(radius=1.2))
    arr = np.asarray(base).astype(np.int16)
    arr += rng.integers(-9, 10, size=arr.shape, dtype=np.int16)  # sensor noise
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _write_one(job: Tuple[str, str, int, int, int]) -> Tuple[str, int, int]:
    path, fmt, w, h, seed = job
    im = _photo(w, h, seed)
    if fmt == "jpeg":
        im.save(path, "JPEG", quality=90)
    else:
        im.save(path, "PNG", compress_level=6)
    return path, w, h


def corpus_jobs(root: str, n: int, size: Optional[Tuple[int, int]]) -> List[Tuple[str, str, int, int, int]]:
    """Deterministic plan: every 10th image is a PNG; JPEGs are 3 of 4 at 640x480 and
    1 of 4 at 1920x1080 unless --size fixes one size."""
    jobs = []
    for i in range(n):
        fmt = "png" if i % 10 == 9 else "jpeg"
        if size:
            w, h = size
        elif fmt == "png":
            w, h = 640, 480
        else:
            w, h = (1920, 1080) if i % 4 == 3 else (640, 480)
        ext = "png" if fmt == "png" else "jpg"
        jobs.append((os.path.join(root, f"img_{i:05d}.{ext}"), fmt, w, h, 1000 + i))
    return jobs


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Standalone:
    """``coordinator --standalone`` in its own session, killed by its own process group."""

    def __init__(self, binary: str, root: str, tmp: str):
        self.port, gport = free_port(), free_port()
        self.location = f"grpc://127.0.0.1:{self.port}"
        secret = os.path.join(tmp, "secret")
        with open(secret, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(secret, 0o600)
        self.log_path = os.path.join(tmp, "coordinator.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "--standalone", "--listen", f"127.0.0.1:{self.port}",
             "--gossip-listen", f"127.0.0.1:{gport}", "--root", root, "--secret-file", secret,
             "--capacity", str(SLOTS), "--local-gossip", "--log-level", "warn"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=tmp)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import pyarrow.flight as fl

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"coordinator exited {self.proc.returncode}: {self.log_tail()}")
            try:
                c = fl.FlightClient(self.location)
                try:
                    res = list(c.do_action(fl.Action("cluster-status", b""), fl.FlightCallOptions(timeout=2)))
                finally:
                    c.close()
                if json.loads(res[0].body.to_pybytes()).get("workers"):
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"coordinator not ready after {timeout}s: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """user+sys CPU of the server process so far (from /proc)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return float("nan")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self._log.close()


def tree_cpu() -> float:
    """CPU seconds (user+sys) of this process and every descendant: live ones from /proc
    (including their reaped children), reaped ones through os.times(). The Spark JVM, its
    Python workers, the coordinator and the pools are all descendants, so the delta over a
    pass is what the method cost in CPU, whatever else runs on the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: Dict[int, int] = {}
    stat: Dict[int, List[str]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(d)] = int(fields[1])
        stat[int(d)] = fields
    me = os.getpid()
    total = 0.0
    for pid, fields in stat.items():
        p, seen = pid, 0
        while p not in (0, 1, me) and seen < 64:
            p, seen = parent.get(p, 0), seen + 1
        if p == me and pid != me:
            total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
    t = os.times()
    return total + t.user + t.system + t.children_user + t.children_system


# --------------------------------------------------------------------------- methods


def _py_decode(path: str) -> Tuple[str, int, int, int, bytes]:
    """Pillow decode + numpy conversion to Spark's BGR(A) byte order."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode not in ("RGB", "RGBA", "L"):
            im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
        a = np.asarray(im)
    if a.ndim == 2:
        c = 1
    else:
        c = a.shape[2]
        a = a[..., [2, 1, 0, 3]] if c == 4 else a[..., ::-1]
    return os.path.basename(path), a.shape[0], a.shape[1], c, np.ascontiguousarray(a).tobytes()


def spark_session(tmp: str):
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    s = (SparkSession.builder.master(f"local[{SLOTS}]").appName("imageflight-peer-bench")
         .config("spark.driver.memory", "4g")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", str(SLOTS))
         .config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.driver.host", "127.0.0.1")
         .config("spark.local.dir", os.path.join(tmp, "spark-local"))
         .config("spark.sql.warehouse.dir", os.path.join(tmp, "spark-warehouse"))
         .getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    return s


def spark_materialise(df) -> Tuple[int, int]:
    from pyspark.sql import functions as F

    r = df.select(F.count(F.lit(1)).alias("n"), F.sum(F.length("image.data")).alias("b")).collect()[0]
    return int(r["n"]), int(r["b"] or 0)


def ray_child(corpus: str, repeats: int) -> None:
    """Runs inside the Ray interpreter: prints one JSON line with the timings."""
    import ray

    ray.init(num_cpus=SLOTS, include_dashboard=False, log_to_driver=False,
             object_store_memory=2 << 30)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False

    def once() -> Tuple[int, int]:
        n = b = 0
        ds = ray.data.read_images(corpus, override_num_blocks=2 * SLOTS)
        for batch in ds.iter_batches(batch_size=32, batch_format="numpy"):
            for a in batch["image"]:
                n += 1
                b += a.nbytes
        return n, b

    once()  # warm: worker processes, imports
    walls = []
    res = (0, 0)
    cpu0 = tree_cpu()  # raylet, GCS and the workers are descendants of this driver
    for _ in range(repeats):
        t = time.perf_counter()
        res = once()
        walls.append(time.perf_counter() - t)
    cpu = (tree_cpu() - cpu0) / repeats
    print(json.dumps({"walls": walls, "rows": res[0], "bytes": res[1], "ray": ray.__version__, "cpu": cpu}))
    ray.shutdown()


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=400, help="number of images (default 400)")
    ap.add_argument("--size", default=None, help="WxH for every image (default: 640x480 / 1920x1080 mix)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per method; the median is reported")
    ap.add_argument("--ray-python", default=None,
                    help="python interpreter with ray[data] installed (default: this one, if it imports ray)")
    ap.add_argument("--skip", default="", help="comma list of methods to skip: spark-image,pyarrow,spark-if,pool,ray")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (corpus, server log)")
    ap.add_argument("--ray-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.ray_child:
        ray_child(args.ray_child, args.repeats)
        return 0

    size = None
    if args.size:
        w, h = args.size.lower().split("x")
        size = (int(w), int(h))
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    tmp = tempfile.mkdtemp(prefix="imageflight-peer-bench-")
    corpus = os.path.join(tmp, "corpus")
    os.makedirs(corpus)
    server: Optional[Standalone] = None
    spark = None
    failures: List[str] = []
    try:
        # ---- corpus
        t = time.perf_counter()
        jobs = corpus_jobs(corpus, args.images, size)
        with ProcessPoolExecutor(SLOTS) as pool:
            written = list(pool.map(_write_one, jobs, chunksize=4))
        files = [p for p, _, _ in written]
        mp = sum(w * h for _, w, h in written) / 1e6
        nbytes = sum(os.path.getsize(p) for p in files)
        njpeg = sum(1 for j in jobs if j[1] == "jpeg")
        print(f"corpus: {len(files)} images ({njpeg} JPEG q90, {len(files) - njpeg} PNG), "
              f"{mp:.1f} MP, {nbytes / 1e6:.1f} MB on disk, written in {time.perf_counter() - t:.1f}s -> {corpus}",
              flush=True)

        # ---- server
        bindir = os.path.join(tmp, "bin")
        subprocess.run(["go", "build", "-o", bindir + os.sep, "./cmd/coordinator"], cwd=REPO, check=True)
        server = Standalone(os.path.join(bindir, "coordinator"), corpus, tmp)
        print(f"standalone coordinator at {server.location} (capacity {SLOTS})", flush=True)

        import imageflight
        import imageflight.spark
        import pyarrow.compute as pc

        results: Dict[str, dict] = {}

        def bench(name: str, label: str, fn: Callable[[], Tuple[int, int]], server_cpu: bool = False) -> None:
            if name in skip:
                return
            try:
                fn()  # warm-up
                walls, out = [], (0, 0)
                c0 = server.cpu_seconds() if server_cpu else 0.0
                t0cpu = tree_cpu()
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    out = fn()
                    walls.append(time.perf_counter() - t0)
                cpu = (tree_cpu() - t0cpu) / args.repeats
                srv = (server.cpu_seconds() - c0) / args.repeats if server_cpu else None
                results[name] = {"label": label, "walls": walls, "rows": out[0], "bytes": out[1],
                                 "server_cpu": srv, "cpu": cpu}
                print(f"  {label}: median {statistics.median(walls):.2f}s over {[round(w, 2) for w in walls]}, "
                      f"CPU {cpu:.2f}s/pass" + (f" (server {srv:.2f}s)" if srv is not None else ""), flush=True)
            except Exception as err:  # keep the other measurements
                failures.append(f"{label}: {type(err).__name__}: {err}")
                print(f"  {label}: FAILED {type(err).__name__}: {err}", flush=True)

        # ---- Spark sessions (one JVM for both Spark reads)
        if not {"spark-image", "spark-if"} <= skip:
            t = time.perf_counter()
            spark = spark_session(tmp)
            imageflight.spark.register(spark)
            print(f"spark {spark.version} local[{SLOTS}] up in {time.perf_counter() - t:.1f}s", flush=True)

        print("timing (1 warm-up pass, then --repeats passes):", flush=True)
        bench("spark-image", "Spark format(\"image\")",
              lambda: spark_materialise(spark.read.format("image").option("recursiveFileLookup", "true").load(corpus)))

        def via_pyarrow() -> Tuple[int, int]:
            tbl = imageflight.read_images(corpus, coordinator=server.location, recursive=True)
            data = pc.struct_field(tbl.column("image"), "data")
            return tbl.num_rows, int(pc.sum(pc.binary_length(data)).as_py() or 0)

        bench("pyarrow", "imageflight read_images (pyarrow)", via_pyarrow, server_cpu=True)
        bench("spark-if", "imageflight Spark source",
              lambda: spark_materialise(spark.read.format("imageflight").option("coordinator", server.location)
                                        .option("recursive", "true").load(corpus)),
              server_cpu=True)

        def via_pool() -> Tuple[int, int]:
            n = b = 0
            with ProcessPoolExecutor(SLOTS) as pool:
                for _, _, _, _, data in pool.map(_py_decode, files, chunksize=4):
                    n += 1
                    b += len(data)
            return n, b

        bench("pool", "Pillow+numpy BGR, 2-proc pool", via_pool)

        # ---- Ray Data, in its own interpreter (ray is not a project dependency)
        if "ray" not in skip:
            ray_py = args.ray_python
            if ray_py is None:
                try:
                    import ray  # noqa: F401
                    ray_py = sys.executable
                except ImportError:
                    pass
            if ray_py is None:
                print("  Ray Data: skipped (ray is not installed here; pass --ray-python PY with ray[data])", flush=True)
            else:
                try:
                    r = subprocess.run([ray_py, os.path.abspath(__file__), "--ray-child", corpus,
                                        "--repeats", str(args.repeats)],
                                       capture_output=True, text=True, timeout=600, start_new_session=True,
                                       env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
                    line = [l for l in r.stdout.splitlines() if l.startswith("{")]
                    if r.returncode != 0 or not line:
                        raise RuntimeError(f"exit {r.returncode}: {r.stderr[-2000:]}")
                    out = json.loads(line[-1])
                    label = f"Ray Data {out['ray']} read_images (RGB)"
                    results["ray"] = {"label": label, "walls": out["walls"], "rows": out["rows"],
                                      "bytes": out["bytes"], "server_cpu": None, "cpu": out.get("cpu")}
                    print(f"  {label}: median {statistics.median(out['walls']):.2f}s over {out['walls']!r}", flush=True)
                except Exception as err:
                    failures.append(f"Ray Data: {type(err).__name__}: {err}")
                    print(f"  Ray Data: FAILED {err}", flush=True)

        # ---- correctness: counts, bytes, spot-check pixels against Spark
        want_rows = len(files)
        for k, r in results.items():
            if r["rows"] != want_rows:
                failures.append(f"{r['label']}: {r['rows']} rows, expected {want_rows}")
        byte_set = {r["bytes"] for r in results.values()}
        if len(byte_set) > 1:
            failures.append("total pixel bytes differ: " + ", ".join(f"{r['label']}={r['bytes']}" for r in results.values()))
        spot = spot_check(spark, server, corpus, files) if spark is not None else []
        for line in spot:
            print("  " + line)
            if line.startswith("MISMATCH imageflight"):
                failures.append(line)

        # ---- table
        base = results.get("spark-image")
        base_wall = statistics.median(base["walls"]) if base else None
        print()
        print(f"{len(files)} images, {mp:.1f} MP, {nbytes / 1e6:.1f} MB; {SLOTS} slots on {os.cpu_count()} cores, "
              f"median of {args.repeats}; load average at start {load0[0]:.1f}, now {os.getloadavg()[0]:.1f}"
              + ("  (machine busy: other processes share the cores, numbers are noisy)"
                 if max(load0[0], os.getloadavg()[0]) > (os.cpu_count() or 1) + 0.5 else ""))
        hdr = (f"{'method':<42} {'wall s':>7} {'img/s':>8} {'MP/s':>7} {'vs Spark image':>15}"
               f" {'CPU s':>7} {'MP/CPU-s':>9} {'vs Spark (CPU)':>15}")
        print(hdr)
        print("-" * len(hdr))
        for k, r in results.items():
            wall = statistics.median(r["walls"])
            ratio = f"{base_wall / wall:.2f}x" if base_wall else "n/a"
            cpu = r.get("cpu")
            cpu_s = f"{cpu:7.2f} {mp / cpu:9.1f}" if cpu else f"{'n/a':>7} {'n/a':>9}"
            cratio = f"{base['cpu'] / cpu:.2f}x" if cpu and base and base.get("cpu") else "n/a"
            print(f"{r['label']:<42} {wall:7.2f} {len(files) / wall:8.1f} {mp / wall:7.1f} {ratio:>15} {cpu_s} {cratio:>15}")
        print()
        print("notes: Spark rows = count + sum(length(image.data)) in the executors; imageflight pyarrow")
        print("       delivers every pixel byte into this Python process; the pool returns BGR bytes to")
        print("       the parent; Ray Data yields RGB numpy arrays (no BGR swap). The pool and Ray stand")
        print("       in for Ray Data / SynapseML pipelines; all run on the same 2 cores.")
        print("       CPU s = user+sys of this process tree (JVM, Python workers, coordinator, pool) per")
        print("       pass: robust when other processes compete for the cores (Ray: its driver's tree).")
        if "ray" not in results and "ray" not in skip:
            print("       Ray Data not measured: install ray[data] in a separate venv and pass --ray-python.")
        print(f"total script time {time.perf_counter() - t_start:.0f}s")
        if failures:
            print("\nFAILURES:")
            for f in failures:
                print("  " + f)
            return 1
        return 0
    finally:
        if spark is not None:
            spark.stop()
        if server is not None:
            server.close()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def spot_check(spark, server: Optional[Standalone], corpus: str, files: List[str]) -> List[str]:
    """Compares a few rows byte for byte: imageflight vs Spark (must match), Pillow vs Spark (info)."""
    import imageflight

    jpegs = [f for f in files if f.endswith(".jpg")]
    pngs = [f for f in files if f.endswith(".png")]
    picks = jpegs[:2] + jpegs[3:4] + jpegs[-1:] + pngs[:1]  # includes a 1920x1080 one in the default mix
    picks = list(dict.fromkeys(picks))
    rows = spark.read.format("image").load(picks).select("image.*").collect()
    ref = {os.path.basename(r["origin"]): r for r in rows}
    tbl = imageflight.read_images(corpus, coordinator=server.location, recursive=True) if server else None
    mine = {}
    if tbl is not None:
        for r in tbl.column("image").to_pylist():
            b = os.path.basename(r["origin"])
            if b in ref:
                mine[b] = r
    out = []
    for p in picks:
        b = os.path.basename(p)
        s = ref.get(b)
        if s is None:
            out.append(f"MISMATCH imageflight {b}: Spark returned no row")
            continue
        m = mine.get(b)
        shape = (s["height"], s["width"], s["nChannels"], s["mode"])
        if m is None or (m["height"], m["width"], m["nChannels"], m["mode"]) != shape or bytes(m["data"]) != bytes(s["data"]):
            out.append(f"MISMATCH imageflight {b}: differs from Spark's row {shape}")
        else:
            out.append(f"identical  imageflight == Spark  {b} {shape[1]}x{shape[0]}x{shape[2]}")
        _, h, w, c, data = _py_decode(p)
        if (h, w, c) == shape[:3] and data == bytes(s["data"]):
            out.append(f"identical  Pillow == Spark       {b}")
        else:
            diff = "shape" if (h, w, c) != shape[:3] else _maxdiff(data, bytes(s["data"]))
            out.append(f"differs    Pillow vs Spark       {b} ({diff}) [info only]")
    return out


def _maxdiff(a: bytes, b: bytes) -> str:
    import numpy as np

    x = np.frombuffer(a, np.uint8).astype(np.int16)
    y = np.frombuffer(b, np.uint8).astype(np.int16)
    d = np.abs(x - y)
    return f"max |diff| {int(d.max())}, {100.0 * np.count_nonzero(d) / d.size:.1f}% of bytes"


if __name__ == "__main__":
    sys.exit(main())
