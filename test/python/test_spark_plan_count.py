"""Plans per Spark query against the real coordinator: GetFlightInfo lists the folder, so
the data source must run it once per query, not once for the schema and again for the
partitions. Counted from the coordinator's own "planned" log line (one per GetFlightInfo)."""

from __future__ import annotations

import time


def _plans(cluster, path: str) -> int:
    with open(cluster.coordinator.log_path, "rb") as f:
        lines = f.read().decode("utf-8", "replace").splitlines()
    return sum(1 for ln in lines if "msg=planned" in ln and path in ln)


def _wait_plans(cluster, path: str, want: int) -> int:
    deadline = time.monotonic() + 60.0  # the log line is written after the answer is built
    n = _plans(cluster, path)
    while n < want and time.monotonic() < deadline:
        time.sleep(0.05)
        n = _plans(cluster, path)
    return n


def test_one_plan_per_spark_query(spark, standalone, corpus):
    path = corpus.root + "/year"
    before = _plans(standalone, path)
    df = (spark.read.format("imageflight").option("coordinator", standalone.location)
          .option("recursive", "true").load(path))
    rows = df.count()
    assert rows > 0
    assert df.where("image.width > 0").count() <= rows  # a second query on the DataFrame
    assert _wait_plans(standalone, path, before + 2) - before == 1, standalone.logs()


def test_plan_ttl_zero_plans_at_load_and_at_first_query(spark, standalone, corpus):
    path = corpus.root + "/year"
    before = _plans(standalone, path)
    df = (spark.read.format("imageflight").option("coordinator", standalone.location)
          .option("recursive", "true").option("planTtl", "0").load(path))
    df.count()
    assert _wait_plans(standalone, path, before + 2) - before == 2, standalone.logs()
