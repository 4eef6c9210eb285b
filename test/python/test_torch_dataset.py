"""imageflight.torch.ImageFlightDataset with a real PyTorch DataLoader (num_workers=2, fork
and spawn) against a real server, on a labelled folder: every image exactly once per
epoch, labels right, orders set by the seed and the epoch.

torch is not in requirements.txt (PyPI's Linux wheel pulls ~2.8 GB of CUDA packages):
these tests run when torch is installed (``IMAGEFLIGHT_TEST_TORCH=1 test/python/setup.sh``)
and are skipped otherwise. The sharding rule itself (``imageflight._shard``) is tested
without torch in test_client_unit.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

import imageflight

from conftest import REPORT

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = ["ant", "bee", "cat"]
PER_CLASS = {"ant": 7, "bee": 9, "cat": 8}


@pytest.fixture(scope="module")
def labelled(corpus):
    """labelled/cls=<name>/<name>_<i>.png: 24 small PNGs, size and colour per class."""
    from PIL import Image

    d = os.path.join(corpus.root, "labelled")
    if not os.path.isdir(d):
        for k, name in enumerate(CLASSES):
            sub = os.path.join(d, f"cls={name}")
            os.makedirs(sub)
            for i in range(PER_CLASS[name]):
                a = np.zeros((8 + i, 10 + k, 3), np.uint8)
                a[..., 0] = 40 * (k + 1)  # red channel tells the class
                a[..., 1] = i
                mode = "L" if (name == "bee" and i == 0) else "RGB"
                img = Image.fromarray(a[..., 0] if mode == "L" else a, mode)
                img.save(os.path.join(sub, f"{name}_{i}.png"))
    return d


def _check_epoch(samples, labelled):
    origins = [s["origin"] for s in samples]
    assert len(origins) == sum(PER_CLASS.values()) == len(set(origins)), "each image exactly once"
    for s in samples:
        name = s["origin"].split("cls=")[1].split("/")[0]
        assert s["label"] == CLASSES.index(name), s["origin"]
        img = s["image"]
        assert img.dtype.__str__().endswith("uint8") and img.ndim == 3 and img.shape[2] == 3
        if not os.path.basename(s["origin"]).startswith("bee_0"):
            assert int(img[0, 0, 0]) == 40 * (CLASSES.index(name) + 1), "RGB order"
    return origins


torch = pytest.importorskip("torch", reason="torch not installed (IMAGEFLIGHT_TEST_TORCH=1 test/python/setup.sh)")
from torch.utils.data import DataLoader  # noqa: E402

from imageflight.torch import ImageFlightDataset  # noqa: E402


def _epoch(ds, ctx, epoch):
    ds.set_epoch(epoch)
    loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context=ctx,
                        timeout=120)
    return list(loader)


def test_dataloader_fork_and_spawn(coordinator, labelled):
    import time

    # The parent plans and scans the classes over gRPC: forked workers must still work.
    ds = ImageFlightDataset(labelled, coordinator=coordinator, num_partitions=6, shuffle=True,
                            shuffle_seed=1, shuffle_buffer=5)
    assert ds.classes == CLASSES and ds.label_column == "cls"
    assert len(ds.plan.endpoints) == 6
    timings = {}
    t0 = time.monotonic()
    fork0 = _check_epoch(_epoch(ds, "fork", 0), labelled)
    fork1 = _check_epoch(_epoch(ds, "fork", 1), labelled)
    timings["fork"] = (time.monotonic() - t0) / 2
    assert fork0 != fork1, "set_epoch reshuffles"
    t0 = time.monotonic()
    spawn0 = _check_epoch(_epoch(ds, "spawn", 0), labelled)
    timings["spawn"] = time.monotonic() - t0
    assert spawn0 == fork0, "the order depends on seed and epoch only, not on how workers start"
    other = ImageFlightDataset(labelled, coordinator=coordinator, num_partitions=6, shuffle=True,
                               shuffle_seed=2, shuffle_buffer=5, classes=CLASSES)
    seed2 = _check_epoch(_epoch(other, "fork", 0), labelled)
    assert seed2 != fork0, "another seed, another order"
    plain = ImageFlightDataset(labelled, coordinator=coordinator, num_partitions=6, classes=CLASSES)
    a = _check_epoch(_epoch(plain, "fork", 0), labelled)
    b = _check_epoch(_epoch(plain, "fork", 1), labelled)
    assert a == b, "no shuffle: the same order every epoch"
    REPORT.append(f"DataLoader(num_workers=2) over {sum(PER_CLASS.values())} labelled images, "
                  f"6 endpoints: fork {timings['fork']:.2f} s/epoch, spawn {timings['spawn']:.2f} s/epoch "
                  f"(worker start included); each image once per epoch, labels right")


def test_ranks_and_batches(coordinator, labelled):
    seen = []
    for rank in (0, 1):
        ds = ImageFlightDataset(labelled, coordinator=coordinator, num_partitions=4,
                                classes=CLASSES, rank=rank, world_size=2, channels=3,
                                transform=lambda t: t[:8, :10].permute(2, 0, 1).float() / 255)
        loader = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="fork",
                            timeout=120)
        for batch in loader:
            assert batch["image"].shape[1:] == (3, 8, 10) and batch["image"].dtype == torch.float32
            assert batch["label"].dtype == torch.int64
            seen += batch["origin"]
    assert len(seen) == len(set(seen)) == sum(PER_CLASS.values()), "two ranks x two workers: once each"


def test_tensor_column_and_invalid_rows():
    """A server may add a ``tensor`` column (Arrow fixed_shape_tensor); it is yielded as is."""
    from imageflight._image import IMAGE_STRUCT

    img = pa.array([
        {"origin": "file:/d/cls=a/x.png", "height": 1, "width": 2, "nChannels": 3, "mode": 16,
         "data": bytes([1, 2, 3, 4, 5, 6])},
        {"origin": "file:/d/cls=a/bad.png", "height": -1, "width": -1, "nChannels": -1,
         "mode": -1, "data": b""},
    ], type=IMAGE_STRUCT)
    ttype = pa.fixed_shape_tensor(pa.float32(), (2, 3))
    storage = pa.array([list(range(6)), list(range(6, 12))], pa.list_(pa.float32(), 6))
    tensor = pa.ExtensionArray.from_storage(ttype, storage)
    schema = pa.schema([pa.field("image", IMAGE_STRUCT), pa.field("cls", pa.utf8()),
                        pa.field("tensor", ttype)])
    batch = pa.RecordBatch.from_arrays([img, pa.array(["a", "a"]), tensor], schema=schema)
    plan = imageflight.Plan(coordinator="grpc://x:1", schema=schema, endpoints=())
    ds = ImageFlightDataset(plan=plan, classes=["a"])
    out = list(ds._samples(batch))
    assert len(out) == 1, "the invalid row is skipped"
    s = out[0]
    assert s["label"] == 0 and s["origin"].endswith("x.png")
    assert s["image"].tolist() == [[[3, 2, 1], [6, 5, 4]]]
    assert s["tensor"].shape == (2, 3) and s["tensor"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert list(ImageFlightDataset(plan=plan, classes=["a"])) == []


def test_model_columns_are_in_each_sample():
    """A plan with a model: its columns (fetched and softmax tensors, argmax doubles) are
    yielded by name, never taken for partition columns (label_column="auto" is the folder
    column), and without pixels there is no "image"."""
    from imageflight._image import IMAGE_STRUCT

    img = pa.array([
        {"origin": "file:/d/cls=a/x.png", "height": 4, "width": 4, "nChannels": 3, "mode": 16, "data": b""},
        {"origin": "file:/d/cls=b/bad.png", "height": -1, "width": -1, "nChannels": -1, "mode": -1, "data": b""},
        {"origin": "file:/d/cls=b/y.png", "height": 4, "width": 4, "nChannels": 3, "mode": 16, "data": b""},
    ], type=IMAGE_STRUCT)
    ftype, ptype = pa.fixed_shape_tensor(pa.float32(), (3,)), pa.fixed_shape_tensor(pa.float64(), (2,))
    feats = pa.ExtensionArray.from_storage(ftype, pa.array([[1, 2, 3], None, [4, 5, 6]], pa.list_(pa.float32(), 3)))
    probs = pa.ExtensionArray.from_storage(ptype, pa.array([[0.25, 0.75], None, [0.5, 0.5]], pa.list_(pa.float64(), 2)))
    schema = pa.schema([pa.field("image", IMAGE_STRUCT), pa.field("features", ftype), pa.field("probability", ptype),
                        pa.field("prediction", pa.float64()), pa.field("cls", pa.utf8())])
    batch = pa.RecordBatch.from_arrays([img, feats, probs, pa.array([1.0, None, 0.0]), pa.array(["a", "b", "b"])],
                                       schema=schema)
    plan = imageflight.Plan(coordinator="grpc://x:1", schema=schema, endpoints=(),
                            model_columns=("features", "probability", "prediction"))
    assert plan.partition_columns == ["cls"]
    ds = ImageFlightDataset(plan=plan, classes=["a", "b"])
    assert ds.label_column == "cls"
    out = list(ds._samples(batch))
    assert [sorted(o) for o in out] == [["features", "label", "origin", "prediction", "probability"]] * 2
    assert out[0]["features"].dtype == torch.float32 and out[0]["features"].tolist() == [1, 2, 3]
    assert out[1]["probability"].dtype == torch.float64 and out[1]["probability"].tolist() == [0.5, 0.5]
    assert [o["prediction"] for o in out] == [1.0, 0.0] and [o["label"] for o in out] == [0, 1]


@pytest.fixture(scope="module")
def mixed_modes(corpus):
    """mixed/cls=x/: one 4x5 PNG each of RGBA, gray, gray+alpha (decoded as 3 channels,
    as Spark does) and RGB (an ImageFolder
    of mixed PNGs as found in the wild)."""
    from PIL import Image

    d = os.path.join(corpus.root, "mixed")
    if not os.path.isdir(d):
        sub = os.path.join(d, "cls=x")
        os.makedirs(sub)
        rgba = np.zeros((4, 5, 4), np.uint8)
        rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 20, 30, 128
        Image.fromarray(rgba, "RGBA").save(os.path.join(sub, "rgba.png"))
        Image.fromarray(np.full((4, 5), 77, np.uint8), "L").save(os.path.join(sub, "gray.png"))
        Image.fromarray(np.full((4, 5, 2), 99, np.uint8), "LA").save(os.path.join(sub, "la.png"))
        Image.fromarray(rgba[..., :3].copy(), "RGB").save(os.path.join(sub, "rgb.png"))
    return d


def test_default_is_three_channel_rgb_like_imagefolder(coordinator, mixed_modes):
    """Issue 17: RGBA PNGs came out H x W x 4 and the default collate failed on a folder
    mixing them with RGB ones; ImageFolder's convert("RGB") gives 3 channels for all."""
    from PIL import Image

    ds = ImageFlightDataset(mixed_modes, coordinator=coordinator, classes=["x"])
    batches = list(DataLoader(ds, batch_size=4, num_workers=0))
    assert len(batches) == 1
    imgs, origins = batches[0]["image"], batches[0]["origin"]
    assert imgs.shape == (4, 4, 5, 3) and imgs.dtype == torch.uint8
    for img, origin in zip(imgs, origins):
        path = origin[len("file:"):] if origin.startswith("file:") else origin
        want = np.asarray(Image.open(path).convert("RGB"))  # torchvision's default loader
        assert img.numpy().tolist() == want.tolist(), origin
    keep = ImageFlightDataset(mixed_modes, coordinator=coordinator, classes=["x"], channels=None)
    shapes = {os.path.basename(s["origin"]): tuple(s["image"].shape) for s in keep}
    assert shapes == {"rgba.png": (4, 5, 4), "gray.png": (4, 5, 3), "la.png": (4, 5, 3), "rgb.png": (4, 5, 3)}
    rgba = ImageFlightDataset(mixed_modes, coordinator=coordinator, classes=["x"], channels=4)
    got = {os.path.basename(s["origin"]): s["image"][0, 0].tolist() for s in rgba}
    assert got["rgba.png"] == [10, 20, 30, 128] and got["rgb.png"] == [10, 20, 30, 255]


def test_len_is_the_planned_file_count(coordinator, labelled):
    """Issue 17: len(ds) and len(loader) raised TypeError although the plan knows the count."""
    n = sum(PER_CLASS.values())
    ds = ImageFlightDataset(labelled, coordinator=coordinator, classes=CLASSES, num_partitions=4)
    assert len(ds) == n
    assert len(DataLoader(ds, batch_size=5, num_workers=0)) == -(-n // 5)
    assert len(list(ds)) == n
    with pytest.raises(TypeError, match="drop_image_failures=False"):
        len(ImageFlightDataset(labelled, coordinator=coordinator, classes=CLASSES, drop_image_failures=True))
    with pytest.raises(TypeError, match="each rank"):
        len(ImageFlightDataset(labelled, coordinator=coordinator, classes=CLASSES, rank=0, world_size=2))


@pytest.mark.parametrize("classes, match", [
    (["ant", "bee"], r"8 of the 24 files .* 'cls' value not in classes"),
    (["ants", "bees", "cats"], r"24 of the 24 files"),
    (["ant", "bee", "cat", "bee"], "duplicates: \\['bee'\\]"),
    ([0, 1, 2], r"values of the label column 'cls' \(string: str\)"),
])
def test_wrong_classes_fail_at_construction(coordinator, labelled, classes, match):
    """Issue 17: a wrong classes= list failed only mid-iteration, at the first unknown label."""
    with pytest.raises(imageflight.InvalidArgument, match=match):
        ImageFlightDataset(labelled, coordinator=coordinator, classes=classes)


def test_null_tensor_of_an_invalid_row_is_skipped():
    """With drop_image_failures=False (the default) an invalid image's tensor is null;
    to_numpy_ndarray() refused the whole batch ("Array contains nulls")."""
    from imageflight._image import IMAGE_STRUCT

    img = pa.array([
        {"origin": "file:/d/cls=a/bad.png", "height": -1, "width": -1, "nChannels": -1,
         "mode": -1, "data": b""},
        {"origin": "file:/d/cls=a/x.png", "height": 1, "width": 2, "nChannels": 3, "mode": 16,
         "data": bytes([1, 2, 3, 4, 5, 6])},
    ], type=IMAGE_STRUCT)
    ttype = pa.fixed_shape_tensor(pa.float32(), (2, 3))
    storage = pa.array([None, list(range(6))], pa.list_(pa.float32(), 6))
    schema = pa.schema([pa.field("image", IMAGE_STRUCT), pa.field("cls", pa.utf8()),
                        pa.field("tensor", ttype)])
    batch = pa.RecordBatch.from_arrays(
        [img, pa.array(["a", "a"]), pa.ExtensionArray.from_storage(ttype, storage)], schema=schema)
    plan = imageflight.Plan(coordinator="grpc://x:1", schema=schema, endpoints=())
    out = list(ImageFlightDataset(plan=plan, classes=["a"])._samples(batch.slice(0)))
    assert len(out) == 1 and out[0]["tensor"].tolist() == [[0, 1, 2], [3, 4, 5]]
    out = list(ImageFlightDataset(plan=plan, classes=["a"])._samples(batch.slice(1)))
    assert len(out) == 1 and out[0]["tensor"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_finding_the_classes_decodes_nothing(go_bins, corpus, labelled):
    """Issue 17: classes=None read the whole folder with full decodes (an extra epoch);
    the labels are partition values, so headers suffice."""
    import re
    import urllib.request

    from servers import Cluster, free_port

    port = free_port("127.0.0.1")
    c = Cluster(go_bins, corpus.root, coordinator_args=["--metrics-listen", f"127.0.0.1:{port}"])
    try:
        def pixel_rows() -> float:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60).read().decode()
            return sum(float(v) for v in re.findall(r"^imageflight_batch_rows_total\{[^}]*\} (\S+)$", text, re.M))

        before = pixel_rows()
        ds = ImageFlightDataset(labelled, coordinator=c.location, num_partitions=3,
                                transforms=imageflight.Transforms().resize(32))
        assert ds.classes == CLASSES
        assert pixel_rows() == before, "finding the classes decoded images"
        samples = list(ds)
        assert len(samples) == sum(PER_CLASS.values())
        assert pixel_rows() > before  # the metric does count decoded rows
    finally:
        c.close()


def test_drop_last_gives_every_epoch_the_same_batches(coordinator, labelled):
    """Issue 17: batches per epoch varied with how the endpoints (and so the last partial
    batches) fell across the workers. drop_last=True: equal shards, every epoch alike."""
    n = sum(PER_CLASS.values())
    kw = dict(coordinator=coordinator, classes=CLASSES, num_partitions=5, shuffle=True,
              shuffle_seed=3, transform=lambda t: t[:8, :10])  # one size: collate stacks
    plain = ImageFlightDataset(labelled, **kw)
    files = [ep.files for ep in plain.plan.endpoints]
    assert sum(files) == n and len(files) == 5, files
    equal = ImageFlightDataset(labelled, drop_last=True, **kw)
    share = equal.share(num_workers=2)
    assert share == sum(sorted(files)[:2]) and 0 < share < n // 2

    def batches(ds, epoch):
        ds.set_epoch(epoch)
        loader = DataLoader(ds, batch_size=3, drop_last=True, num_workers=2,
                            multiprocessing_context="fork", timeout=120)
        out = [b["origin"] for b in loader]
        flat = [o for b in out for o in b]
        assert len(flat) == len(set(flat)), "no image twice in an epoch"
        return len(out)

    varying = [batches(plain, e) for e in range(4)]
    constant = [batches(equal, e) for e in range(4)]
    assert len(set(varying)) > 1, f"the seeded epochs were meant to show the variation: {varying}"
    assert constant == [2 * (share // 3)] * 4, constant
    REPORT.append(f"drop_last=True: batches per epoch {constant} (share {share} of {n} images "
                  f"per worker, 5 endpoints of {files}); without: {varying}")
