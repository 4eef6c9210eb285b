"""The notebook-style example of clients/python/README.md runs (issue 5): its ```python
blocks are executed verbatim against a real standalone server on the project's sample
corpus (``coordinator gen-samples``), with only the placeholder path and coordinator
address replaced. Then the values it leaves behind are checked."""

from __future__ import annotations

import os
import re
import subprocess

import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README = os.path.join(REPO, "clients", "python", "README.md")
PLACEHOLDER_PATH = "hdfs://nn:8020/imgs"
PLACEHOLDER_COORD = "grpc://coord:8815"


def readme_blocks():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 3, "README: expected the pandas, the Spark and the classifier blocks"
    for b in blocks:
        assert PLACEHOLDER_PATH in b and PLACEHOLDER_COORD in b
    return blocks


@pytest.fixture(scope="module")
def sample_corpus(go_bins, corpus):
    """The project's sample corpus, written under the standalone server's root."""
    d = os.path.join(corpus.root, "samples")
    if not os.path.isdir(d):
        res = subprocess.run([go_bins["coordinator"], "gen-samples", "--scale", "4", d],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
    return d


def run_block(code, sample_corpus, coordinator, **env):
    code = code.replace(PLACEHOLDER_PATH, sample_corpus).replace(PLACEHOLDER_COORD, coordinator)
    ns = dict(env)
    exec(compile(code, README, "exec"), ns)  # noqa: S102 - our own README
    return ns


def test_pandas_example(sample_corpus, coordinator, capsys):
    ns = run_block(readme_blocks()[0], sample_corpus, coordinator)
    out, err = capsys.readouterr()
    table, df, stats = ns["table"], ns["df"], ns["stats"]
    assert table.schema.names == ["image", "cls", "split"], out
    assert "image: struct<origin: string" in out
    assert 0 < table.num_rows == len(df) == stats.rows and stats.resumes == 0
    assert "imageflight" in err, "progress=True shows progress on stderr (or tqdm)"
    heights = table.column("image").combine_chunks().field("height").to_pylist()
    assert min(heights) > 0, "drop_image_failures=True: no invalid rows"
    counts = ns["counts"]
    assert set(counts.index) <= {"cats", "dogs", "birds"} and counts.sum() == table.num_rows
    bgr, rgb = ns["bgr"], ns["rgb"]
    first = table.column("image")[0].as_py()
    assert bgr.dtype == np.uint8 and bgr.shape == (first["height"], first["width"], first["nChannels"])
    assert np.array_equal(rgb[:, :, :3], bgr[:, :, 2::-1])


def test_spark_example(spark, sample_corpus, coordinator, capsys):
    ns = run_block(readme_blocks()[1], sample_corpus, coordinator, spark=spark)
    out = capsys.readouterr().out
    images, labelled = ns["images"], ns["labelled"]
    ref = spark.read.format("image").option("recursiveFileLookup", "true").load(sample_corpus)
    # printSchema of our source is Spark's image struct + partition columns.
    assert "|-- image: struct" in out and "|    |-- nChannels: integer" in out
    assert images.schema["image"].dataType == ref.schema["image"].dataType
    assert [f.name for f in images.schema.fields] == ["image", "cls", "split"]
    arr, row = ns["arr"], ns["row"]
    assert arr.shape == (row.image.height, row.image.width, row.image.nChannels)
    rows = labelled.select("cls", "label", "features").collect()
    assert rows and len(rows) == images.count()
    n_labels = len({r.cls for r in rows})
    assert {r.label for r in rows} == set(float(i) for i in range(n_labels))
    assert all(len(r.features) == 3 and r.features[0] > 0 for r in rows)


def test_classifier_pipeline_example(sample_corpus, coordinator, spark, capsys):
    """Transforms + tensor on the workers, a feature model in a pandas UDF, a SparkML
    classifier trained and scored (issue 10)."""
    ns = run_block(readme_blocks()[2], sample_corpus, coordinator, spark=spark)
    out, _ = capsys.readouterr()
    assert "test accuracy" in out
    scored = ns["scored"]
    assert {"prediction", "probability", "label"} <= set(scored.columns)
    n = ns["data"].count()
    assert n > 0 and len(ns["data"].first().features) == 64
    assert 0.0 <= ns["accuracy"] <= 1.0
