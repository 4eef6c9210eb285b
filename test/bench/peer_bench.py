#!/usr/bin/env python3
"""Peer benchmark: imageflight against Spark's own image source (and a plain-Python
decode pool, and Ray Data when available) on the SAME files, same machine, same run.

    .venv/bin/python test/bench/peer_bench.py [--images N] [--size WxH] [--repeats R]
    .venv/bin/python test/bench/peer_bench.py --photos "$(test/bench/photos.sh)" \
        --ray-python /tmp/rayvenv/bin/python          # real photos (issue 13's table)

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
5. Prints images/s, MP/s, wall seconds (median of --repeats), CPU-seconds of the process
   tree per pass, peak RSS of the decoding processes (coordinator VmHWM, reset between
   methods) and of the caller, and the ratios to Spark's image source, to the Pillow pool
   and to Ray Data measured in this run, with issue 13's targets; and the Flight overhead:
   pyarrow's throughput against BenchmarkDecodeDir (decode_bench_test.go), the same decode
   in one Go process without Arrow, gRPC or client.

With --photos DIR the corpus is DIR's real photos (test/bench/photos.sh) instead of
step 1's synthetic images, copied (and replicated when --images exceeds their number).

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
from typing import Callable, Dict, List, Optional, Sequence, Tuple

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


PHOTO_EXT = (".jpg", ".jpeg", ".png")


def photo_corpus(src: str, dst: str, n: Optional[int]) -> Tuple[List[str], float, str]:
    """Copies the photos of src (recursively, JPEG/PNG by extension) into dst; with n larger
    than their number, copy k of file i is named rK_<name> (round-robin, so every photo
    appears n/len times, ±1). Returns (files, megapixels, description)."""
    from PIL import Image

    srcs = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.expanduser(src)) for f in fs
                  if f.lower().endswith(PHOTO_EXT))
    if not srcs:
        raise SystemExit(f"--photos {src}: no .jpg/.jpeg/.png files (run test/bench/photos.sh)")
    n = n or len(srcs)
    files, mp, kinds = [], 0.0, {}
    for i in range(n):
        s = srcs[i % len(srcs)]
        k = i // len(srcs)
        d = os.path.join(dst, (f"r{k}_" if k else "") + os.path.basename(s))
        shutil.copyfile(s, d)
        with Image.open(d) as im:
            mp += im.width * im.height / 1e6
            kind = im.format + (" progressive" if im.info.get("progressive") or im.info.get("progression") else "")
        kinds[kind] = kinds.get(kind, 0) + 1
        files.append(d)
    rep = f", each of the {len(srcs)} photos {n / len(srcs):.3g}x (replicated)" if n > len(srcs) else \
        (f", the first {n} of {len(srcs)} photos" if n < len(srcs) else "")
    desc = f"{n} real photos from {src} (" + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())) + ")" + rep
    return files, mp, desc


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Standalone:
    """``coordinator --standalone`` in its own session, killed by its own process group."""

    def __init__(self, binary: str, root: str, tmp: str, args: Sequence[str] = (),
                 env: Optional[Dict[str, str]] = None):
        """args: more flags; env: the server's environment (default: this one's)."""
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
             "--capacity", str(SLOTS), "--local-gossip", "--log-level", "warn", *args],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=tmp, env=env)
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


def tree_cpu(exclude: int = 0) -> float:
    """CPU seconds (user+sys) of this process and every descendant: live ones from /proc
    (including their reaped children), reaped ones through os.times(). The Spark JVM, its
    Python workers, the coordinator and the pools are all descendants, so the delta over a
    pass is what the method cost in CPU, whatever else runs on the machine. exclude: a pid
    whose subtree is left out (the idle Spark JVM while a non-Spark method runs: its
    heartbeats, GC and JIT threads would otherwise be charged to that method)."""
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
        while p not in (0, 1, me) and p != exclude and seen < 64:
            p, seen = parent.get(p, 0), seen + 1
        if p == me and pid != me and pid != exclude:
            total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
    t = os.times()
    return total + t.user + t.system + t.children_user + t.children_system


def _status_kb(pid: int, key: str) -> int:
    """A kB field of /proc/<pid>/status (VmHWM, VmRSS), 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak(pid: int) -> None:
    """Resets VmHWM of pid to its current RSS (clear_refs 5, Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def descendants(root: int) -> Dict[int, str]:
    """pid -> comm of every live descendant of root."""
    parent: Dict[int, int] = {}
    comm: Dict[int, str] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.find("(") + 1:raw.rfind(")")]
        parent[int(d)] = int(raw.rsplit(")", 1)[1].split()[1])
        comm[int(d)] = name
    out = {}
    for pid in parent:
        p, seen = parent.get(pid, 0), 0
        while p not in (0, 1, root) and seen < 64:
            p, seen = parent.get(p, 0), seen + 1
        if p == root and pid != root:
            out[pid] = comm[pid]
    return out


class RSSSampler:
    """Peak of the summed VmRSS of a changing set of processes (pool workers, Python UDF
    workers, Ray's raylet and workers), sampled every 0.1 s in a thread. Shared pages
    (Ray's object store) count once per process that maps them."""

    def __init__(self, pick: Callable[[], List[int]], interval: float = 0.1):
        import threading

        self.pick, self.interval, self.peak_kb = pick, interval, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.peak_kb = max(self.peak_kb, sum(_status_kb(p, "VmRSS") for p in self.pick()))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "RSSSampler":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


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


def ray_child(corpus: str, repeats: int, size: Optional[int] = None) -> None:
    """Runs inside the Ray interpreter: prints one JSON line with the timings (and peak RSS:
    the summed VmRSS of Ray's processes — raylet, GCS, workers — sampled, and the driver's
    VmHWM). size: read_images(size=(size, size))."""
    import ray

    ray.init(num_cpus=SLOTS, include_dashboard=False, log_to_driver=False,
             object_store_memory=2 << 30)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False

    def once() -> Tuple[int, int]:
        n = b = 0
        kw = {"size": (size, size)} if size else {}
        ds = ray.data.read_images(corpus, override_num_blocks=2 * SLOTS, **kw)
        for batch in ds.iter_batches(batch_size=32, batch_format="numpy"):
            for a in batch["image"]:
                n += 1
                b += a.nbytes
        return n, b

    once()  # warm: worker processes, imports
    walls = []
    res = (0, 0)
    me = os.getpid()
    reset_peak(me)
    cpu0 = tree_cpu()  # raylet, GCS and the workers are descendants of this driver
    with RSSSampler(lambda: list(descendants(me))) as rs:
        for _ in range(repeats):
            t = time.perf_counter()
            res = once()
            walls.append(time.perf_counter() - t)
    cpu = (tree_cpu() - cpu0) / repeats
    print(json.dumps({"walls": walls, "rows": res[0], "bytes": res[1], "ray": ray.__version__, "cpu": cpu,
                      "worker_rss": rs.peak_kb / 1024, "caller_rss": _status_kb(me, "VmHWM") / 1024}))
    ray.shutdown()


def jvm_pid() -> Optional[int]:
    for pid, name in descendants(os.getpid()).items():
        if name == "java":
            return pid
    return None


def _python_workers(under: Optional[int], exclude: Tuple[int, ...] = ()) -> List[int]:
    """Python processes below `under` (default: this process), minus the subtrees of `exclude`."""
    skip = set()
    for e in exclude:
        if e:
            skip.add(e)
            skip.update(descendants(e))
    return [p for p, n in descendants(under or os.getpid()).items()
            if n.startswith("python") and p not in skip]


def run_method(results: Dict[str, dict], failures: List[str], name: str, label: str,
               fn: Callable[[], Tuple[int, int]], repeats: int, server: Optional["Standalone"],
               server_cpu: bool = False, worker: str = "server", caller: str = "self",
               uses_spark: Optional[bool] = None) -> None:
    """One untimed warm-up pass, then `repeats` timed passes of fn (-> rows, bytes).

    Peak RSS over the timed passes (MB), for `worker` (the processes that decode) and
    `caller` (the ones that receive the rows): "server" = coordinator VmHWM, "jvm" = the
    Spark JVM's VmHWM, "jvm+py" = that plus the sampled peak of its Python workers,
    "pool" = sampled peak of this process's Python children outside the JVM,
    "self" = this process's VmHWM. VmHWM is reset (clear_refs) after the warm-up.
    CPU: the JVM's subtree is left out unless the method uses Spark (default: when worker
    or caller names the JVM)."""
    if uses_spark is None:
        uses_spark = any(k.startswith("jvm") for k in (worker, caller))
    try:
        fn()  # warm-up
        jvm = jvm_pid()
        me = os.getpid()
        srv_pid = server.proc.pid if server is not None else 0
        for pid in (me, jvm, srv_pid):
            if pid:
                reset_peak(pid)
        pool = RSSSampler(lambda: _python_workers(me, (jvm or 0, srv_pid)))
        jvm_py = RSSSampler(lambda: _python_workers(jvm) if jvm else [])
        walls, out = [], (0, 0)
        c0 = server.cpu_seconds() if server_cpu else 0.0
        no_jvm = (jvm or 0) if not uses_spark else 0
        t0cpu = tree_cpu(no_jvm)
        with pool, jvm_py:
            for _ in range(repeats):
                t0 = time.perf_counter()
                out = fn()
                walls.append(time.perf_counter() - t0)
        cpu = (tree_cpu(no_jvm) - t0cpu) / repeats
        srv = (server.cpu_seconds() - c0) / repeats if server_cpu else None

        def rss(kind: str) -> Optional[float]:
            kb = {"server": lambda: _status_kb(srv_pid, "VmHWM") if srv_pid else 0,
                  "jvm": lambda: _status_kb(jvm, "VmHWM") if jvm else 0,
                  "jvm+py": lambda: (_status_kb(jvm, "VmHWM") if jvm else 0) + jvm_py.peak_kb,
                  "pool": lambda: pool.peak_kb,
                  "self": lambda: _status_kb(me, "VmHWM")}[kind]()
            return kb / 1024 if kb else None

        results[name] = {"label": label, "walls": walls, "rows": out[0], "bytes": out[1],
                         "server_cpu": srv, "cpu": cpu, "worker_rss": rss(worker),
                         "caller_rss": rss(caller)}
        print(f"  {label}: median {statistics.median(walls):.2f}s over {[round(w, 2) for w in walls]}, "
              f"CPU {cpu:.2f}s/pass" + (f" (server {srv:.2f}s)" if srv is not None else "")
              + f", peak RSS worker {_mb(results[name]['worker_rss'])} caller {_mb(results[name]['caller_rss'])}",
              flush=True)
    except Exception as err:  # keep the other measurements
        failures.append(f"{label}: {type(err).__name__}: {err}")
        print(f"  {label}: FAILED {type(err).__name__}: {err}", flush=True)


def _mb(v: Optional[float]) -> str:
    return f"{v:.0f} MB" if v else "n/a"


def find_ray_python(explicit: Optional[str]) -> Optional[str]:
    if explicit:
        return explicit
    try:
        import ray  # noqa: F401
        return sys.executable
    except ImportError:
        return None


def run_ray(results: Dict[str, dict], failures: List[str], ray_python: Optional[str], corpus: str,
            repeats: int, size: Optional[int] = None, label_suffix: str = "(RGB)") -> None:
    """Ray Data read_images in its own interpreter (ray is not a project dependency)."""
    ray_py = find_ray_python(ray_python)
    if ray_py is None:
        print("  Ray Data: skipped (ray is not installed here; pass --ray-python PY with ray[data])", flush=True)
        return
    try:
        cmd = [ray_py, os.path.abspath(__file__), "--ray-child", corpus, "--repeats", str(repeats)]
        if size:
            cmd += ["--ray-size", str(size)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, start_new_session=True,
                           env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
        line = [l for l in r.stdout.splitlines() if l.startswith("{")]
        if r.returncode != 0 or not line:
            raise RuntimeError(f"exit {r.returncode}: {r.stderr[-2000:]}")
        out = json.loads(line[-1])
        label = f"Ray Data {out['ray']} read_images {label_suffix}"
        results["ray"] = {"label": label, "walls": out["walls"], "rows": out["rows"], "bytes": out["bytes"],
                          "server_cpu": None, "cpu": out.get("cpu"), "worker_rss": out.get("worker_rss"),
                          "caller_rss": out.get("caller_rss")}
        print(f"  {label}: median {statistics.median(out['walls']):.2f}s over {[round(w, 2) for w in out['walls']]}, "
              f"CPU {out.get('cpu', 0):.2f}s/pass, peak RSS worker {_mb(out.get('worker_rss'))} "
              f"caller {_mb(out.get('caller_rss'))}", flush=True)
    except Exception as err:
        failures.append(f"Ray Data: {type(err).__name__}: {err}")
        print(f"  Ray Data: FAILED {err}", flush=True)


def run_inproc(results: Dict[str, dict], failures: List[str], corpus: str, tmp: str, repeats: int,
               transforms: Optional[str] = None, fast: bool = False, name: str = "inproc",
               label: str = "in-process Go decode (no Flight)") -> None:
    """BenchmarkDecodeDir (test/bench/decode_bench_test.go): the worker's decode (and
    transforms) on the same files in one Go process, GOMAXPROCS=SLOTS goroutines, no Arrow,
    gRPC or client. Wall = ns/op; CPU = its getrusage per pass; RSS = the process's
    ru_maxrss (whole run, warm-up included)."""
    try:
        binary = os.path.join(tmp, "bin", "bench.test")
        if not os.path.exists(binary):
            subprocess.run(["go", "test", "-c", "-o", binary, "./test/bench"], cwd=REPO, check=True)
        env = {**os.environ, "BENCH_DIR": corpus, "GOMAXPROCS": str(SLOTS)}
        if transforms:
            env["BENCH_TRANSFORMS"] = transforms
        if fast:
            env["BENCH_FAST_RESIZE"] = "1"
        walls, cpus, rss = [], [], 0.0
        for _ in range(repeats):  # one process per pass: a median, as for the others
            p = subprocess.Popen([binary, "-test.run", "^$", "-test.bench", "^BenchmarkDecodeDir$",
                                  "-test.benchtime", "1x", "-test.count", "1"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=tmp, text=True)
            outp = p.stdout.read()
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            line = [l for l in outp.splitlines() if l.startswith("BenchmarkDecodeDir")]
            if p.returncode != 0 or not line:
                raise RuntimeError(f"exit {p.returncode}: {outp[-2000:]}")
            f = line[0].split()
            walls.append(float(f[f.index("ns/op") - 1]) / 1e9)
            cpus.append(float(f[f.index("cpu-s/op") - 1]))
            rss = max(rss, ru.ru_maxrss / 1024)
        results[name] = {"label": label, "walls": walls, "rows": None, "bytes": None, "server_cpu": None,
                         "cpu": statistics.median(cpus), "worker_rss": rss, "caller_rss": None}
        print(f"  {label}: median {statistics.median(walls):.2f}s over {[round(w, 2) for w in walls]}, "
              f"CPU {statistics.median(cpus):.2f}s/pass, peak RSS {rss:.0f} MB", flush=True)
    except Exception as err:
        failures.append(f"{label}: {type(err).__name__}: {err}")
        print(f"  {label}: FAILED {err}", flush=True)


def print_table(results: Dict[str, dict], base_key: str, n: int, mp: float) -> None:
    base = results.get(base_key)
    base_wall = statistics.median(base["walls"]) if base else None
    hdr = (f"{'method':<46} {'wall s':>7} {'img/s':>7} {'MP/s':>6} {'vs base':>8}"
           f" {'CPU s':>6} {'MP/CPU-s':>8} {'vs base CPU':>11} {'worker RSS':>10} {'caller RSS':>10}")
    print(hdr)
    print("-" * len(hdr))
    for k, r in results.items():
        wall = statistics.median(r["walls"])
        ratio = f"{base_wall / wall:.2f}x" if base_wall else "n/a"
        cpu = r.get("cpu")
        cpu_s = f"{cpu:6.2f} {mp / cpu:8.1f}" if cpu else f"{'n/a':>6} {'n/a':>8}"
        cratio = f"{base['cpu'] / cpu:.2f}x" if cpu and base and base.get("cpu") else "n/a"
        print(f"{r['label']:<46} {wall:7.2f} {n / wall:7.1f} {mp / wall:6.1f} {ratio:>8} {cpu_s} {cratio:>11}"
              f" {_mb(r.get('worker_rss')):>10} {_mb(r.get('caller_rss')):>10}")
    print(f"(vs base = {base['label'] if base else base_key}; RSS = peak over the timed passes)")


def print_ratios(results: Dict[str, dict], mine: str, peers: List[Tuple[str, float]]) -> None:
    """imageflight's speed-up over each peer, wall and CPU, with the target."""
    m = results.get(mine)
    if not m:
        return
    for key, target in peers:
        r = results.get(key)
        if not r:
            continue
        w = statistics.median(r["walls"]) / statistics.median(m["walls"])
        c = r["cpu"] / m["cpu"] if r.get("cpu") and m.get("cpu") else float("nan")
        ok = "met" if min(w, c) >= target else ("wall only" if w >= target else ("CPU only" if c >= target else "MISSED"))
        print(f"{m['label']} vs {r['label']}: {w:.2f}x wall, {c:.2f}x CPU (target >= {target:g}x: {ok})")


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=None,
                    help="number of images (default 400; with --photos: every photo once)")
    ap.add_argument("--photos", default=None,
                    help="use the real photos of this folder (test/bench/photos.sh) instead of synthetic ones; "
                         "copied, and replicated round-robin when --images exceeds their number")
    ap.add_argument("--no-inproc", action="store_true",
                    help="skip the in-process Go reference (go test -bench DecodeDir) for the Flight overhead")
    ap.add_argument("--size", default=None, help="WxH for every image (default: 640x480 / 1920x1080 mix)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per method; the median is reported")
    ap.add_argument("--ray-python", default=None,
                    help="python interpreter with ray[data] installed (default: this one, if it imports ray)")
    ap.add_argument("--skip", default="", help="comma list of methods to skip: spark-image,pyarrow,spark-if,pool,ray")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (corpus, server log)")
    ap.add_argument("--unix-socket", action="store_true",
                    help="serve with --unix-socket-dir too: the clients read through the Unix socket")
    ap.add_argument("--ray-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--ray-size", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.ray_child:
        ray_child(args.ray_child, args.repeats, args.ray_size)
        return 0
    if args.images is None and not args.photos:
        args.images = 400

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
        if args.photos:
            files, mp, desc = photo_corpus(args.photos, corpus, args.images)
            nbytes = sum(os.path.getsize(p) for p in files)
            print(f"corpus: {desc}, {mp:.1f} MP, {nbytes / 1e6:.1f} MB on disk -> {corpus}", flush=True)
        else:
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
        extra = ["--unix-socket-dir", os.path.join(tmp, "run")] if args.unix_socket else []
        server = Standalone(os.path.join(bindir, "coordinator"), corpus, tmp, args=extra)
        print(f"standalone coordinator at {server.location} (capacity {SLOTS})", flush=True)

        import imageflight
        import imageflight.spark
        import pyarrow.compute as pc

        results: Dict[str, dict] = {}

        def bench(name: str, label: str, fn: Callable[[], Tuple[int, int]], server_cpu: bool = False,
                  worker: str = "server", caller: str = "self") -> None:
            if name in skip:
                return
            run_method(results, failures, name, label, fn, args.repeats, server,
                       server_cpu=server_cpu, worker=worker, caller=caller)

        # ---- Spark sessions (one JVM for both Spark reads)
        if not {"spark-image", "spark-if"} <= skip:
            t = time.perf_counter()
            spark = spark_session(tmp)
            imageflight.spark.register(spark)
            print(f"spark {spark.version} local[{SLOTS}] up in {time.perf_counter() - t:.1f}s", flush=True)

        print("timing (1 warm-up pass, then --repeats passes):", flush=True)
        bench("spark-image", "Spark format(\"image\")",
              lambda: spark_materialise(spark.read.format("image").option("recursiveFileLookup", "true").load(corpus)),
              worker="jvm")

        def via_pyarrow() -> Tuple[int, int]:
            tbl = imageflight.read_images(corpus, coordinator=server.location, recursive=True)
            data = pc.struct_field(tbl.column("image"), "data")
            return tbl.num_rows, int(pc.sum(pc.binary_length(data)).as_py() or 0)

        bench("pyarrow", "imageflight read_images (pyarrow)", via_pyarrow, server_cpu=True)
        bench("spark-if", "imageflight Spark source",
              lambda: spark_materialise(spark.read.format("imageflight").option("coordinator", server.location)
                                        .option("recursive", "true").load(corpus)),
              server_cpu=True, caller="jvm+py")

        def via_pool() -> Tuple[int, int]:
            n = b = 0
            with ProcessPoolExecutor(SLOTS) as pool:
                for _, _, _, _, data in pool.map(_py_decode, files, chunksize=4):
                    n += 1
                    b += len(data)
            return n, b

        bench("pool", "Pillow+numpy BGR, 2-proc pool", via_pool, worker="pool")

        # ---- Ray Data, in its own interpreter (ray is not a project dependency)
        if "ray" not in skip:
            run_ray(results, failures, args.ray_python, corpus, args.repeats)

        # ---- the same decode in-process (Go), for the Flight overhead
        if not args.no_inproc:
            run_inproc(results, failures, corpus, tmp, args.repeats)

        # ---- correctness: counts, bytes, spot-check pixels against Spark
        want_rows = len(files)
        for k, r in results.items():
            if r["rows"] is not None and r["rows"] != want_rows:
                failures.append(f"{r['label']}: {r['rows']} rows, expected {want_rows}")
        byte_set = {r["bytes"] for r in results.values() if r["bytes"] is not None}
        if len(byte_set) > 1:
            failures.append("total pixel bytes differ: " + ", ".join(f"{r['label']}={r['bytes']}" for r in results.values()
                                                                if r["bytes"] is not None))
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
        print_table(results, "spark-image", len(files), mp)
        print()
        print_ratios(results, "pyarrow", [("spark-image", 5.0), ("pool", 1.5), ("ray", 2.0)])
        if "inproc" in results and "pyarrow" in results:
            a, b = results["pyarrow"], results["inproc"]
            print(f"Flight overhead: imageflight pyarrow delivers {100 * statistics.median(b['walls']) / statistics.median(a['walls']):.0f} %"
                  f" of the in-process Go decode's throughput (wall), {100 * b['cpu'] / a['cpu']:.0f} % per CPU-second"
                  f" (target >= 90 %)")
        print()
        print("notes: Spark rows = count + sum(length(image.data)) in the executors; imageflight pyarrow")
        print("       delivers every pixel byte into this Python process; the pool returns BGR bytes to")
        print("       the parent; Ray Data yields RGB numpy arrays (no BGR swap). The pool and Ray stand")
        print("       in for Ray Data / SynapseML pipelines; all run on the same 2 cores.")
        print("       CPU s = user+sys of this process tree (JVM, Python workers, coordinator, pool) per")
        print("       pass: robust when other processes compete for the cores (Ray: its driver's tree).")
        print("       worker RSS = peak RSS of the decoding processes over the timed passes: coordinator")
        print("       VmHWM (imageflight), JVM VmHWM (Spark), sampled sum of the pool's / Ray's processes;")
        print("       caller RSS = this process's VmHWM (Spark source: JVM + its Python workers). The")
        print("       in-process Go row is BenchmarkDecodeDir (same decode, no Arrow/gRPC/client), one")
        print("       process per pass, RSS = its ru_maxrss.")
        if "ray" not in results and "ray" not in skip:
            print("       Ray Data not measured: install ray[data] in a separate venv and pass --ray-python.")
        return finish(failures, t_start)
    finally:
        cleanup(tmp, args.keep, spark=spark, server=server)


def finish(failures: List[str], t_start: float) -> int:
    """Prints the script's time and failures; the exit code of a benchmark script."""
    print(f"total script time {time.perf_counter() - t_start:.0f}s")
    if not failures:
        return 0
    print("\nFAILURES:")
    for f in failures:
        print("  " + f)
    return 1


def cleanup(tmp: str, keep: bool, spark=None, server: Optional["Standalone"] = None) -> None:
    """Stops what a benchmark started and removes its temp folder (unless kept)."""
    if spark is not None:
        spark.stop()
    if server is not None:
        server.close()
    if keep:
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
