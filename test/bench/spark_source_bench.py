"""The Python data source's column of test/bench/spark_jvm_bench.sh.

``spark.read.format("imageflight")`` as clients/python's Python data source (Spark 4,
PySpark from the project virtualenv), local[2], against the same server and folder as the
JVM rows: count(), where(cls = ...).count(), sum(length(image.data)) and read + resize 224 +
centercrop via ``transforms``. Per query the median wall time of 3 runs after a warm-up and
the CPU seconds of this process tree (the Python driver, the Spark JVM, its Python workers)
plus the server's tree, printed as ConnectorBench's tab-separated ``ROW`` lines; then ``RSS``
with the Spark JVM's peak RSS and the largest Python worker's.

Usage: python spark_source_bench.py COORDINATOR DIR SERVER_PID CLS
"""
from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))

from peer_bench import _status_kb, descendants, spark_session, tree_cpu  # noqa: E402

TRANSFORMS = ('[{"action":"resize","size":224,"keepAspectRatio":true},'
              '{"action":"centercrop","height":224,"width":224}]')


def server_cpu(pid: int) -> float:
    """CPU seconds of the server and its descendants (reaped ones through cutime/cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / tick
    return total


def main() -> None:
    coord, folder, server_pid, cls = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    import tempfile

    import imageflight.spark
    from pyspark.sql import functions as F

    tmp = tempfile.mkdtemp(prefix="imageflight-spark-source-bench-")
    spark = spark_session(tmp)
    imageflight.spark.register(spark)

    def df(**opts):
        r = spark.read.format("imageflight").option("coordinator", coord)
        for k, v in opts.items():
            r = r.option(k, v)
        return r.load(folder)

    def full(d):
        return d.agg(F.sum(F.length("image.data"))).first()[0]

    queries = [("count()", lambda: df().count())]
    if "cls" in df().columns:
        queries.append(("where(cls = ...).count()", lambda: df().where(F.col("cls") == cls).count()))
    queries += [("sum(length(image.data))", lambda: full(df())),
                ("resize 224 + centercrop (transforms)", lambda: full(df(transforms=TRANSFORMS)))]
    for name, q in queries:
        q()  # warm-up
        runs = []
        for _ in range(3):
            c0 = tree_cpu() + server_cpu(server_pid)
            t0 = time.perf_counter()
            result = q()
            runs.append((time.perf_counter() - t0, tree_cpu() + server_cpu(server_pid) - c0))
        wall = statistics.median(r[0] for r in runs)
        cpu = next(r[1] for r in runs if r[0] == wall)
        print(f"ROW\t{name}\tpython\t{wall:.2f}\t{cpu:.2f}\t{result}", flush=True)
    jvm = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    workers = [p for p, comm in descendants(os.getpid()).items() if comm.startswith("python")]
    print(f"RSS\tpython\t{_status_kb(jvm, 'VmHWM')}\t{max([_status_kb(p, 'VmHWM') for p in workers] or [0])}")
    spark.stop()
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
