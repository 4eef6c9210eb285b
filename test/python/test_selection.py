"""File selection, header-only rows and failure reasons against real server processes:
path lists and globs, basePath, pathGlobFilter, fileExtensions, limit, partitionFilters
(docs/protocol.md), and Spark's partition-filter pushdown, options and multi-path load."""

from __future__ import annotations

import os
import re
import urllib.request

import pytest

import imageflight.client as C
from corpus import rel_of
from servers import Cluster, free_port


def read(coordinator, path, **kw):
    return C.read_plan(C.get_plan(C.build_command(path, **kw), coordinator))


def rels(corpus, table):
    return [rel_of(corpus, o) for o in table.column("image").combine_chunks().field("origin").to_pylist()]


def listed(corpus, prefix, suffixes=("",)):
    """Corpus files under prefix (the server's listing: no hidden files), sorted."""
    return sorted(r for r, e in corpus.files.items()
                  if e is not None and r.startswith(prefix) and r.endswith(suffixes))


def test_path_list_glob_and_base_path(coordinator, corpus):
    img = corpus.images
    t = read(coordinator, [f"{img}/cls=png/rgb8.png", f"{img}/cls=other/*.gif"])
    assert rels(corpus, t) == ["images/cls=other/animated.gif", "images/cls=other/image.gif",
                               "images/cls=other/transparent.gif", "images/cls=png/rgb8.png"]
    assert t.column_names == ["image"]  # each matched root is its own base
    t = read(coordinator, f"{img}/cls={{png,broken}}/*.png", base_path=img)
    want = listed(corpus, "images/cls=png/", (".png",)) + listed(corpus, "images/cls=broken/", (".png",))
    assert sorted(rels(corpus, t)) == sorted(want)
    assert t.column_names == ["image", "cls"]
    assert set(t.column("cls").to_pylist()) == {"png", "broken"}
    t = read(coordinator, f"{img}/cls=jpeg", base_path=img)  # Spark's load(".../cls=jpeg", basePath=...)
    assert set(t.column("cls").to_pylist()) == {"jpeg"}
    with pytest.raises(C.PathNotFound, match=r"cls=nope\*"):
        read(coordinator, f"{img}/cls=nope*/x.png")
    with pytest.raises(C.InvalidArgument, match="basePath"):
        read(coordinator, f"{img}/cls=jpeg", base_path=f"{img}/cls=png")


def test_relative_paths_resolve_on_the_client(coordinator, corpus, monkeypatch):
    monkeypatch.chdir(corpus.images)
    assert C.build_command("cls=png")["path"] == os.path.join(corpus.images, "cls=png")
    assert len(read(coordinator, ["cls=png/rgb8.png", "./cls=png/gray8.png"])) == 2


def test_name_filters(coordinator, corpus):
    t = read(coordinator, corpus.images, file_extensions=["GIF", ".bmp"])
    assert rels(corpus, t) == listed(corpus, "images/", (".gif", ".bmp"))
    t = read(coordinator, corpus.images, path_glob_filter="*.{tiff,webp}")
    assert rels(corpus, t) == listed(corpus, "images/", (".tiff", ".webp"))


def test_limit_is_exact_reproducible_and_composes_with_sampling(coordinator, corpus):
    many = os.path.join(corpus.root, "many")
    a = rels(corpus, read(coordinator, many, limit=7, seed=3))
    assert len(a) == 7 and a == sorted(a)
    assert rels(corpus, read(coordinator, many, limit=7, seed=3, num_partitions=3)) == a
    assert rels(corpus, read(coordinator, many, limit=7, seed=4)) != a
    sample = set(rels(corpus, read(coordinator, many, sample_ratio=0.5, seed=3)))
    both = rels(corpus, read(coordinator, many, sample_ratio=0.5, seed=3, limit=7))
    assert len(both) == 7 and set(both) <= sample
    assert len(read(coordinator, many, limit=10**6)) == len(listed(corpus, "many/"))


def test_partition_filters(coordinator, corpus):
    t = read(coordinator, corpus.images, partition_filters=[{"column": "cls", "op": "in", "values": ["png", "other"]}])
    assert sorted(rels(corpus, t)) == sorted(listed(corpus, "images/cls=png/") + listed(corpus, "images/cls=other/"))
    assert t.column_names == ["image", "cls"]
    t = read(coordinator, corpus.images, partition_filters=[{"column": "cls", "op": ">", "value": "other"}])
    assert set(t.column("cls").to_pylist()) == {"png"}
    with pytest.raises(C.InvalidArgument, match="no such partition column"):
        read(coordinator, corpus.images, partition_filters=[{"column": "year", "op": "=", "value": 1}])


def test_header_only_rows_match_decoded_rows(coordinator, corpus):
    full = read(coordinator, corpus.images, recursive=True).column("image").combine_chunks()
    head = read(coordinator, corpus.images, recursive=True, pixels=False).column("image").combine_chunks()
    assert len(full) == len(head) > 20
    fields = ("origin", "height", "width", "nChannels", "mode")
    deviations = []
    for i in range(len(full)):
        f = {k: full.field(k)[i].as_py() for k in fields}
        h = {k: head.field(k)[i].as_py() for k in fields}
        assert head.field("data")[i].as_py() == b""
        if f != h:
            deviations.append((rel_of(corpus, f["origin"]), f["height"], h["height"]))
    # The documented deviation: a JPEG cut in its scan data has a valid header.
    assert deviations == [("images/cls=jpeg/truncated.jpg", -1, deviations[0][2])] and deviations[0][2] > 0


def test_header_only_count_is_the_decoding_count(coordinator, corpus):
    """Issue 17: with drop_image_failures the truncated JPEG (valid header) is dropped by the
    decoding read; the header-only read must drop it too (the same rows, without pixels)."""
    full = read(coordinator, corpus.images, recursive=True, drop_image_failures=True)
    head = read(coordinator, corpus.images, recursive=True, drop_image_failures=True, pixels=False)
    assert head.num_rows == full.num_rows > 20
    strip = lambda t: sorted((r["origin"], r["height"], r["width"], r["nChannels"], r["mode"])
                             for r in t.column("image").to_pylist())
    assert strip(head) == strip(full)
    assert not any(o.endswith("/truncated.jpg") for o, *_ in strip(head))
    assert all(len(d) == 0 for d in head.column("image").combine_chunks().field("data").to_pylist())


def test_failure_reasons(coordinator, corpus):
    t = read(coordinator, f"{corpus.images}/cls=broken", failure_reasons=True)
    assert t.column_names == ["image", "failure"]
    reasons = dict(zip(rels(corpus, t), t.column("failure").to_pylist()))
    assert reasons["images/cls=broken/zero.png"] == "imagerow: unknown image format: empty file"
    assert reasons["images/cls=broken/text.png"] == "imagerow: unknown image format"
    assert all(r and corpus.root not in r for r in reasons.values())
    good = read(coordinator, f"{corpus.images}/cls=png", failure_reasons=True)
    assert set(good.column("failure").to_pylist()) == {None}


# --- Spark ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def metered(go_bins, corpus):
    """A standalone server with Prometheus metrics, to count the images workers read."""
    port = free_port("127.0.0.1")
    c = Cluster(go_bins, corpus.root, coordinator_args=["--metrics-listen", f"127.0.0.1:{port}"])
    c.metrics = f"http://127.0.0.1:{port}/metrics"
    yield c
    c.close()


def images_read(cluster) -> int:
    text = urllib.request.urlopen(cluster.metrics, timeout=60).read().decode()
    return int(sum(float(v) for v in re.findall(r"^imageflight_images_total\{[^}]*\} (\S+)$", text, re.M)))


@pytest.fixture
def pushdown(spark):
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")
    yield spark
    spark.conf.unset("spark.sql.python.filterPushdown.enabled")


def test_spark_keeps_filters_and_option_prunes_folders(pushdown, metered, corpus):
    """With pushdown enabled no filter is pushed (pruned partitions would outlive the query,
    see test_spark_filtered_query_does_not_leak_into_later_queries): Spark evaluates every
    where, with Spark's results; the partitionFilters option is what reads fewer folders."""
    spark = pushdown
    df = spark.read.format("imageflight").option("coordinator", metered.location).load(corpus.images)
    q = df.where("cls = 'png' and image.height > 0")
    formatted = spark._jvm.PythonSQLUtils.explainString(q._jdf.queryExecution(), "formatted")
    assert "PushedFilters" not in formatted and "(cls#" in formatted.split("Filter", 2)[2], formatted
    ref = spark.read.format("image").load(corpus.images).where("cls = 'png' and image.height > 0")
    got = sorted((rel_of(corpus, r.image.origin), r.cls) for r in q.select("image.origin", "cls", "image").collect())
    assert got == sorted((rel_of(corpus, r.image.origin), r.cls) for r in ref.collect())
    zero = "images/cls=broken/zero.png"  # Spark's file scan skips zero-length files (test_spark_oracle)
    for where in ("cls in ('png', 'other')", "cls <> 'jpeg'", "cls is null", "not (cls = 'png')", "cls >= 'p'"):
        mine = sorted(rel_of(corpus, r.origin) for r in df.where(where).select("image.origin").collect()
                      if rel_of(corpus, r.origin) != zero)
        theirs = sorted(rel_of(corpus, r.origin) for r in
                        spark.read.format("image").load(corpus.images).where(where).select("image.origin").collect())
        assert mine == theirs, where
    pruned = (spark.read.format("imageflight").option("coordinator", metered.location)
              .option("partitionFilters", '[{"column": "cls", "op": "=", "value": "png"}]').load(corpus.images))
    before = images_read(metered)
    n_png = len(listed(corpus, "images/cls=png/"))
    assert {r.cls for r in pruned.select("cls").collect()} == {"png"}
    assert images_read(metered) - before == n_png  # only the png folder was read
    assert pruned.count() == n_png


def test_spark_without_pushdown_still_filters(spark, coordinator, corpus):
    df = spark.read.format("imageflight").option("coordinator", coordinator).load(corpus.images)
    assert {r.cls for r in df.where("cls = 'gif' or cls = 'png'").select("cls").collect()} == {"png"}


def test_spark_options_and_paths(spark, coordinator, corpus):
    img = corpus.images
    r = spark.read.format("imageflight").option("coordinator", coordinator)
    df = r.option("basePath", img).load([f"{img}/cls=png", f"{img}/cls=other/*.gif"])
    assert df.columns == ["image", "cls"]
    assert sorted({x.cls for x in df.select("cls").collect()}) == ["other", "png"]
    df = r.option("fileExtensions", "gif,bmp").option("limit", "2").option("seed", "1").load(img)
    assert df.count() == 2
    df = r.option("pixels", "false").option("failureReasons", "true").load(f"{img}/cls=broken")
    assert df.columns == ["image", "failure", "cls"] or df.columns == ["image", "failure"]
    rows = df.collect()
    assert all(len(x.image.data) == 0 and x.failure for x in rows)


def test_spark_header_only_count_is_the_decoding_count(spark, coordinator, corpus):
    """Issue 17: count() with pixels=false (62) disagreed with the decoding read (61) with
    dropInvalid: the truncated JPEG has a valid header. Both must count it the same way."""
    def reader():  # DataFrameReader.option mutates the reader: one per query
        return (spark.read.format("imageflight").option("coordinator", coordinator)
                .option("recursive", "true").option("dropInvalid", "true"))

    decoded = reader().load(corpus.images).count()
    assert reader().option("pixels", "false").load(corpus.images).count() == decoded > 20


def _by_cls(rows):
    return {r["cls"]: r["count"] for r in rows}


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
def test_spark_filtered_query_does_not_leak_into_later_queries(pushdown, coordinator, corpus, cached):
    """Issue 17: PySpark 4.3 keeps the partitions a filter-pushdown planner returned on the
    DataFrame's source (PythonScanBuilder.pushFilters -> PythonDataSourceV2.setReadInfo) and
    reuses them for every later query that pushes nothing. A source that pruned folders for
    one query therefore served the pruned rows to the next unfiltered count(), groupBy and
    cache materialisation on the same DataFrame."""
    spark = pushdown
    want = {}
    for rel in listed(corpus, "images/"):
        cls = rel.split("/")[1].split("=", 1)[1]
        want[cls] = want.get(cls, 0) + 1
    total = sum(want.values())
    df = spark.read.format("imageflight").option("coordinator", coordinator).load(corpus.images)
    if cached:
        assert df.where("cls = 'png'").count() == want["png"]  # a pushed query before cache()
        df.cache()
    try:
        assert df.count() == total
        for cls in ("png", "jpeg", "png"):
            assert df.where(f"cls = '{cls}'").count() == want[cls], cls
            assert df.count() == total, f"after where(cls = {cls!r})"
            assert _by_cls(df.groupBy("cls").count().collect()) == want, f"after where(cls = {cls!r})"
        assert df.where("cls in ('png', 'other')").count() == want["png"] + want["other"]
        assert df.where("cls <> 'jpeg'").count() == total - want["jpeg"]
        assert df.where("image.height > 0").count() < total  # a filter Spark keeps
        assert df.count() == total
        assert len(df.select("image.origin").collect()) == total
    finally:
        df.unpersist()
