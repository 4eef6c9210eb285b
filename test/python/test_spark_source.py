"""The Spark data source's mechanics against the in-process fake Flight server (no Go):
struct column carried from Arrow batches, one Spark partition per endpoint, failover,
options, user-specified schema casts. Spark's parity on real images is test_spark_oracle.py."""

from __future__ import annotations

import pyarrow.flight as fl
import pytest

import imageflight.spark as ifs

import fakeflight as F


@pytest.fixture
def fake():
    a, b = F.FakeServer(), F.FakeServer()
    yield a, b
    a.shutdown()
    b.shutdown()


def test_schema_matches_spark_image_source(spark, fake, tmp_path):
    a, _ = fake
    a.endpoints = [fl.FlightEndpoint(F.ticket(0, 1), [a.location])]
    df = spark.read.format("imageflight").option("coordinator", a.location).load("/d")
    # spark.read.format("image") on a cls=... folder, for reference:
    (tmp_path / "cls=x").mkdir()
    (tmp_path / "cls=x" / "bad.png").write_bytes(b"not an image")
    ref = spark.read.format("image").load(str(tmp_path)).schema
    assert df.schema == ref, f"{df.schema.simpleString()} != {ref.simpleString()}"
    assert df.schema.json() == ref.json()  # nullability included


def test_partitions_rows_order_failover_and_resume(spark, fake):
    a, b = fake
    a.endpoints = [
        fl.FlightEndpoint(F.ticket(0, 3), ["grpc://127.0.0.1:1", a.location]),
        fl.FlightEndpoint(F.ticket(1, 4, fail_after=1, fail_loc=a.location), [a.location, b.location]),
        fl.FlightEndpoint(F.ticket(2, 2), [b.location]),
    ]
    df = (spark.read.format("imageflight").option("coordinator", a.location)
          .option("recursive", "true").option("sampleRatio", "0.5").option("seed", "3")
          .option("dropInvalid", "true").option("numPartitions", "3").load("/data"))
    assert df.rdd.getNumPartitions() == 3
    rows = df.collect()
    assert [r.image.origin for r in rows] == [
        f"file:/fake/s{s}/{i:04d}.png" for s, n in ((0, 3), (1, 4), (2, 2)) for i in range(n)]
    assert [r.cls for r in rows] == ["s0"] * 3 + ["s1"] * 4 + ["s2"] * 2
    r = rows[4]
    assert (r.image.height, r.image.width, r.image.nChannels, r.image.mode) == (1, 2, 3, 16)
    assert bytes(r.image.data) == bytes([(31 + 1) % 256]) * 6
    assert a.commands[-1] == {"path": "/data", "recursive": True, "numPartitions": 3,
                              "sampleRatio": 0.5, "seed": 3, "dropImageFailures": True}
    # SQL over the struct works like on Spark's own source.
    assert df.where("image.nChannels = 3").groupBy("cls").count().orderBy("cls").collect()[0]["count"] == 3


def test_user_schema_casts_partition_columns(spark, fake):
    a, _ = fake
    a.endpoints = [fl.FlightEndpoint(F.ticket(7, 2), [a.location])]
    # The fake's partition values are "s7"; a string->string schema with 'cls' works,
    # an int target fails loudly in the cast rather than giving wrong values.
    df = spark.read.format("imageflight").schema(ifs.image_schema({"cls": "string"})) \
        .option("coordinator", a.location).load("/d")
    assert [r.cls for r in df.collect()] == ["s7", "s7"]
    bad = spark.read.format("imageflight").schema(ifs.image_schema({"other": "string"})) \
        .option("coordinator", a.location).load("/d")
    with pytest.raises(Exception, match="partition columns"):
        bad.collect()


def test_unknown_option_and_bad_values(spark, fake):
    a, _ = fake
    with pytest.raises(Exception, match="unknown option 'droopInvalid'|unknown option 'droopinvalid'"):
        spark.read.format("imageflight").option("coordinator", a.location) \
            .option("droopInvalid", "true").load("/d").schema
    with pytest.raises(Exception, match="sample_ratio"):
        spark.read.format("imageflight").option("coordinator", a.location) \
            .option("sampleRatio", "2").load("/d").schema
    with pytest.raises(Exception, match="outside"):
        spark.read.format("imageflight").option("coordinator", a.location).load("/forbidden/x").schema


def test_empty_plan(spark, fake):
    a, _ = fake
    a.endpoints = []
    assert spark.read.format("imageflight").option("coordinator", a.location).load("/d").count() == 0


def test_stall_timeout_option():
    assert ifs._settings({"path": "/d"}).stall_timeout == 60.0
    assert ifs._settings({"path": "/d", "stallTimeout": "2.5"}).stall_timeout == 2.5
    assert ifs._settings({"path": "/d", "STALLTIMEOUT": "off"}).stall_timeout is None
    with pytest.raises(ValueError, match="stall_timeout"):
        ifs._settings({"path": "/d", "stallTimeout": "-1"})


def test_one_plan_per_query(spark, fake):
    """GetFlightInfo once for load() + the first query: partitions() reuses the plan made for
    the schema (Spark pickles the DataSource instance from schema() to reader()). Spark
    itself keeps a DataFrame's partitions, so later queries on it plan nothing."""
    a, _ = fake
    a.endpoints = [fl.FlightEndpoint(F.ticket(0, 3), [a.location]),
                   fl.FlightEndpoint(F.ticket(1, 2), [a.location])]
    df = spark.read.format("imageflight").option("coordinator", a.location).load("/d")
    assert len(a.commands) == 1  # schema
    assert df.count() == 5
    assert len(a.commands) == 1, a.commands  # was 2: partitions() planned again
    assert len(df.where("cls = 's0'").collect()) == 3
    assert len(a.commands) == 1
    # A second load() is a new DataFrame: one new plan, which sees the server's changes.
    a.endpoints = [fl.FlightEndpoint(F.ticket(0, 4), [a.location])]
    assert spark.read.format("imageflight").option("coordinator", a.location).load("/d").count() == 4
    assert len(a.commands) == 2


def test_plan_ttl_zero_plans_again(spark, fake):
    a, _ = fake
    a.endpoints = [fl.FlightEndpoint(F.ticket(0, 3), [a.location])]
    df = spark.read.format("imageflight").option("coordinator", a.location) \
        .option("planTtl", "0").load("/d")
    a.endpoints = [fl.FlightEndpoint(F.ticket(0, 2), [a.location])]  # changed after load()
    assert df.count() == 2  # partitions() planned again and saw the change
    assert len(a.commands) == 2


def test_plan_reused_only_when_fresh_and_same_options(monkeypatch):
    """The DataSource side of the reuse, without Spark: key, age and pickling."""
    import pickle

    calls = []
    plan = ifs._client.Plan(coordinator="grpc://h:1", schema=F.SCHEMA, endpoints=(
        ifs._client.Endpoint(0, b"t0", ("grpc://h:1",)),))
    monkeypatch.setattr(ifs._client, "get_plan", lambda *a, **k: calls.append(a) or plan)
    opts = {"path": "/d", "coordinator": "grpc://h:1", "planTtl": "60"}
    ds = ifs.ImageFlightDataSource(opts)
    schema = ds.schema()
    ds = pickle.loads(pickle.dumps(ds))  # what Spark does between schema() and reader()
    reader = ds.reader(schema)
    assert "_cached_plan" not in ds.__dict__  # not shipped to executors with the read function
    assert pickle.loads(pickle.dumps(reader))._plan is None  # nor with the reader
    assert [p.ticket for p in reader.partitions()] == [b"t0"] and len(calls) == 1
    assert len(reader.partitions()) == 1 and len(calls) == 2  # taken once, then plans again

    def with_cache(o, age):
        d = ifs.ImageFlightDataSource(o)
        d.schema()
        key, t, p = d._cached_plan
        d._cached_plan = (key, t - age, p)
        return d

    n = len(calls)
    with_cache(opts, 59).reader(schema).partitions()
    assert len(calls) == n + 1  # schema only
    with_cache(opts, 61).reader(schema).partitions()
    assert len(calls) == n + 3  # too old: planned again
    d = with_cache(opts, 0)
    d.options = {**opts, "seed": "5"}  # different command: not reused
    d.reader(schema).partitions()
    assert len(calls) == n + 5
    d = ifs.ImageFlightDataSource({**opts, "planTtl": "off"})
    d.schema()
    assert "_cached_plan" not in d.__dict__


def test_plan_ttl_option():
    assert ifs._settings({"path": "/d"}).plan_ttl == 600.0
    assert ifs._settings({"path": "/d", "PLANTTL": "30"}).plan_ttl == 30.0
    assert ifs._settings({"path": "/d", "planTtl": "off"}).plan_ttl == 0.0
    for bad in ("-1", "inf", "nan", "soon"):
        with pytest.raises(ValueError, match="planTtl"):
            ifs._settings({"path": "/d", "planTtl": bad})
