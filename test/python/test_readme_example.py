"""Every ```python block of README.md and clients/python/README.md runs exactly as written
(issue 11: no placeholder is replaced), and the flags the ```sh blocks give the binaries
exist. A block that stops working, or a flag that is renamed, fails here.

The convention the READMEs state: blocks run in a folder holding ``data/images`` (here: the
sample corpus of ``coordinator gen-samples``), against a standalone coordinator whose
``--root`` is that folder, named by ``IMAGEFLIGHT_COORDINATOR``. Blocks that need Spark get
the test session's SparkSession (their ``getOrCreate()`` returns it); the PyTorch block runs
in a subprocess (its DataLoader forks) when torch is installed, and is skipped otherwise.
After each block, the values it leaves behind are checked where the block is known.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import imageflight

from servers import Cluster
from test_model import ort_library

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
READMES = {"README.md": os.path.join(REPO, "README.md"),
           "clients/python/README.md": os.path.join(REPO, "clients", "python", "README.md")}


def blocks(lang):
    out = []
    for name, path in READMES.items():
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for i, m in enumerate(re.finditer(rf"```{lang}\n(.*?)```", text, flags=re.S)):
            line = text[:m.start()].count("\n") + 2
            out.append(pytest.param(name, line, m.group(1), id=f"{name}:{line}"))
    return out


PY_BLOCKS = blocks("python")
SH_BLOCKS = blocks("sh")


def test_the_readmes_have_the_blocks():
    assert len([p for p in PY_BLOCKS if p.values[0] == "README.md"]) == 3
    assert len([p for p in PY_BLOCKS if p.values[0] != "README.md"]) == 5
    for p in PY_BLOCKS:  # the convention: no placeholder hosts or paths to substitute
        code = p.values[2]
        assert "nn:8020" not in code and "coord:8815" not in code and "/data/images" not in code


@pytest.fixture(scope="module")
def docs_cluster(go_bins, tmp_path_factory):
    """A folder with data/images (the sample corpus) and a standalone server rooted there."""
    root = str(tmp_path_factory.mktemp("readme"))
    images = os.path.join(root, "data", "images")
    res = subprocess.run([go_bins["coordinator"], "gen-samples", "--scale", "4", images],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    c = Cluster(go_bins, root, workers=0, coordinator_args=["--onnxruntime-library", ort_library()])
    yield root, c.location
    c.close()


@pytest.fixture(scope="module")
def readme_model(docs_cluster):
    """data/models/resnet18.onnx, written by the command clients/python/README.md names."""
    pytest.importorskip("torch", reason="torch not installed (IMAGEFLIGHT_TEST_TORCH=1 test/python/setup.sh)")
    root = docs_cluster[0]
    res = subprocess.run([sys.executable, os.path.join(REPO, "test", "python", "archs.py"), "resnet18",
                          "data/models/resnet18.onnx"], capture_output=True, text=True, timeout=600, cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr
    return os.path.join(root, "data", "models", "resnet18.onnx")


@pytest.fixture
def in_docs_folder(docs_cluster, monkeypatch):
    root, location = docs_cluster
    monkeypatch.chdir(root)
    monkeypatch.setenv("IMAGEFLIGHT_COORDINATOR", location)
    return root


def _check(code, ns, out, err, spark=None):
    """Checks the values a known block leaves behind."""
    if "to_pandas()" in code:
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
        if first["nChannels"] >= 3:
            assert np.array_equal(rgb[:, :, :3], bgr[:, :, 2::-1])
        labels, classes = ns["labels"], ns["classes"]
        assert classes == sorted(set(df["cls"])) and [classes[i] for i in labels] == list(df["cls"])
    elif "iter_batches" in code and "seen" in ns:
        assert ns["seen"] > 0 and ns["stats"].peak_in_flight <= 4
        assert ns["stats"].failed, "the sample corpus has undecodable files"
        assert all(f.origin in out for f in ns["stats"].failed)
    elif "LogisticRegression" in code:
        # transforms, tensor and ResNet-18 on the workers, two classifiers (issues 10, 21)
        assert "test accuracy" in out
        assert {"prediction", "probability", "label"} <= set(ns["scored"].columns)
        images, data = ns["images"], ns["data"]
        assert [f.name for f in images.schema.fields] == ["image", "features", "cls", "split"]
        decodable = imageflight.read_images("data/images", recursive=True, drop_image_failures=True,
                                            pixels=False).num_rows
        assert data.count() == decodable > 100 and len(data.first().features) == 512
        assert set(ns["accuracy"]) == {"LogisticRegression", "RandomForestClassifier"}
        assert all(0.0 <= a <= 1.0 for a in ns["accuracy"].values())
    elif "StringIndexer" in code:
        images, labelled = ns["images"], ns["labelled"]
        ref = spark.read.format("image").option("recursiveFileLookup", "true").load(
            os.path.abspath("data/images"))
        assert "|-- image: struct" in out and "|    |-- nChannels: integer" in out
        assert images.schema["image"].dataType == ref.schema["image"].dataType
        assert [f.name for f in images.schema.fields] == ["image", "cls", "split"]
        arr, row = ns["arr"], ns["row"]
        want_c = 3 if row.image.nChannels == 1 else row.image.nChannels
        assert arr.shape == (row.image.height, row.image.width, want_c)
        rows = labelled.select("cls", "label", "features").collect()
        assert rows and len(rows) == images.count()
        n_labels = len({r.cls for r in rows})
        assert {r.label for r in rows} == set(float(i) for i in range(n_labels))
        assert all(len(r.features) == 3 and r.features[0] > 0 for r in rows)
    elif "pyarrow.flight" in code:
        assert sum(t.num_rows for t in ns["tables"]) > 0 and len(ns["tables"]) == 8
    elif "read_images" in code and "spark" in code:
        assert ns["table"].num_rows > 0 and ns["df"].count() > 0 and ns["pixels"]


@pytest.mark.parametrize("name, line, code", PY_BLOCKS)
def test_python_block_runs_as_written(name, line, code, in_docs_folder, request, capfd):
    if "torch" in code:
        pytest.importorskip("torch", reason="torch not installed (IMAGEFLIGHT_TEST_TORCH=1 test/python/setup.sh)")
        # The DataLoader forks: run in a fresh interpreter, with a guard against hangs.
        if "optimizer" in code:  # the training step: server-side resize, crop, normalisation
            check = """
                assert x.shape == (8, 3, 56, 56) and x.dtype == torch.float32, x.shape
                assert -2.2 < float(x.min()) < float(x.max()) < 2.7, (x.min(), x.max())
                assert y.dtype == torch.int64 and 0 <= int(y.min()) <= int(y.max()) < 3
                assert len(loader) == -(-len(ds) // 8) and torch.isfinite(loss)
                print("SAMPLE-OK 1")
                """
        else:
            check = """
                print("SAMPLE-OK", epoch, image.shape, int(label), len(ds.classes))
                """
        res = subprocess.run([sys.executable, "-c", code + textwrap.dedent(check)],
                             capture_output=True, text=True, timeout=300, cwd=in_docs_folder)
        assert res.returncode == 0 and "SAMPLE-OK 1" in res.stdout, res.stdout + res.stderr
        return
    if "Model(" in code:
        request.getfixturevalue("readme_model")
    spark = request.getfixturevalue("spark") if "spark" in code else None
    ns = {"__name__": "__readme__"}
    exec(compile(code, f"{name}:{line}", "exec"), ns)  # noqa: S102 - our own README
    out, err = capfd.readouterr()
    _check(code, ns, out, err, spark)


def _help_text(go_bins, argv):
    res = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=60)
    return res.stdout + res.stderr


@pytest.mark.parametrize("name, line, code", SH_BLOCKS)
def test_shell_block_flags_exist(name, line, code, go_bins):
    """Each ``bin/coordinator``/``bin/worker`` line's subcommand and --flags exist."""
    for raw in code.splitlines():
        cmd = raw.split("#", 1)[0].strip()
        if not cmd.startswith(("bin/coordinator", "bin/worker")):
            continue
        words = shlex.split(cmd)
        binary = go_bins["coordinator" if words[0].endswith("coordinator") else "worker"]
        argv = [binary]
        if len(words) > 1 and not words[1].startswith("-") and words[0].endswith("coordinator"):
            argv.append(words[1])  # a subcommand: status, read, demo, gen-samples
        text = _help_text(go_bins, argv)
        for w in words[1:]:
            if w.startswith("--"):
                flag = w.split("=", 1)[0]
                assert re.search(rf"{re.escape(flag)}\b", text), f"{name}:{line}: {cmd!r}: {flag} not in {argv} --help"
