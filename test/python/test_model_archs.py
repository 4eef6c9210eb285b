"""Real architectures on the workers (issue 21): ResNet-18 and MobileNetV3-Small (archs.py,
layer for layer torchvision's, seeded weights) exported with torch.onnx.export in the test,
read through a coordinator and two worker processes with ``model``; every row's features
equal onnxruntime's Python API on the tensors the same workers stream without the model.
Then the PyTorch dataset with ``model=``: its samples carry the features, and a linear head
trains on them through a DataLoader with two worker processes."""

from __future__ import annotations

import glob
import os
import shutil

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch", reason="torch not installed (IMAGEFLIGHT_TEST_TORCH=1 test/python/setup.sh)")

import archs  # noqa: E402
import imageflight  # noqa: E402
from conftest import REPORT  # noqa: E402
from servers import Cluster  # noqa: E402
from test_model import SIDE, TENSOR, TRANSFORMS, _by_origin, _read, ort_library, read_killing_a_worker  # noqa: E402

CLASSES = ["jpeg", "png"]


@pytest.fixture(scope="module")
def arch_root(corpus, tmp_path_factory):
    """A served root: images/cls=jpeg (5 photos and an undecodable file), images/cls=png (4
    images, gray and alpha among them), and models/ with both architectures exported."""
    root = str(tmp_path_factory.mktemp("archs"))
    for cls, pattern, n in [("jpeg", "*.jpg", 5), ("png", "*.png", 4)]:
        d = os.path.join(root, "images", f"cls={cls}")
        os.makedirs(d)
        srcs = sorted(glob.glob(os.path.join(corpus.images, "**", pattern), recursive=True))
        srcs = [s for s in srcs if "broken" not in s and "truncated" not in s][:n]
        assert len(srcs) == n, srcs
        for i, s in enumerate(srcs):
            shutil.copy(s, os.path.join(d, f"{i:02d}{os.path.splitext(s)[1]}"))
    with open(os.path.join(root, "images", "cls=jpeg", "99.jpg"), "wb") as f:
        f.write(b"not an image")
    os.makedirs(os.path.join(root, "models"))
    modules = {name: archs.export(name, os.path.join(root, "models", f"{name}.onnx")) for name in archs.PARAMS}
    return root, modules


@pytest.fixture(scope="module")
def arch_cluster(go_bins, arch_root):
    try:
        c = Cluster(go_bins, arch_root[0], workers=2,
                    worker_args=["--onnxruntime-library", ort_library(), "--model-threads", "1"])
    except RuntimeError as err:
        pytest.fail(f"cluster did not start: {err}", pytrace=False)
    yield c
    c.close()


def _model(root: str, name: str) -> imageflight.Model:
    return imageflight.Model(os.path.join(root, "models", f"{name}.onnx"), input="input", mini_batch_size=4,
                             fetch={"features": "features", "logits": "logits"})


@pytest.mark.parametrize("name", list(archs.PARAMS))
def test_architecture_is_torchvisions(name, arch_root):
    """The same layers as torchvision's model: its parameter count, and the ONNX graph
    computes what the torch module does."""
    module = arch_root[1][name]
    assert sum(p.numel() for p in module.parameters()) == archs.PARAMS[name]
    x = torch.randn(2, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        feats, logits = module(x)
    sess = ort.InferenceSession(os.path.join(arch_root[0], "models", f"{name}.onnx"), providers=["CPUExecutionProvider"])
    of, ol = sess.run(["features", "logits"], {"input": x.numpy()})
    assert of.shape == (2, archs.FEATURES[name]) and ol.shape == (2, 1000)
    # torch and ONNX Runtime: different kernels, float32 (observed below 1e-6).
    assert np.abs(of - feats.numpy()).max() <= 1e-4 and np.abs(ol - logits.numpy()).max() <= 1e-4


@pytest.mark.parametrize("name", list(archs.PARAMS))
def test_worker_features_equal_onnxruntime_python(name, arch_cluster, arch_root):
    root = arch_root[0]
    base = {"path": os.path.join(root, "images"), "transforms": TRANSFORMS, "tensor": TENSOR, "numPartitions": 3}
    tensors, _ = _read(arch_cluster.location, base)
    got, wire = _read(arch_cluster.location, {**base, "model": _model(root, name).to_json(), "pixels": False})
    assert got.schema.names == ["image", "features", "logits", "cls"]
    assert got.schema.field("features").type.shape == [archs.FEATURES[name]]

    want_t = {o: t for o, t in _by_origin(tensors, "tensor").items() if t is not None}
    origins = sorted(want_t)
    assert len(origins) == 9 and len(_by_origin(got, "features")) == 10
    x = np.stack([np.asarray(want_t[o], np.float32).reshape(3, SIDE, SIDE) for o in origins])
    sess = ort.InferenceSession(os.path.join(root, "models", f"{name}.onnx"), providers=["CPUExecutionProvider"])
    feats, logits = sess.run(["features", "logits"], {"input": x})  # one call of 9: other batches than the workers'
    gf, gl = _by_origin(got, "features"), _by_origin(got, "logits")
    assert all(gf[o] is None for o in gf if o not in want_t)  # the undecodable file: null features
    worst_f = max(float(np.abs(np.asarray(gf[o]) - feats[i]).max()) for i, o in enumerate(origins))
    worst_l = max(float(np.abs(np.asarray(gl[o]) - logits[i]).max()) for i, o in enumerate(origins))
    assert worst_f <= 1e-5 and worst_l <= 1e-5, (worst_f, worst_l)
    assert float(np.abs(feats).max()) > 1e-3  # features that are not all zero
    REPORT.append(f"model {name}: 9 images, {archs.FEATURES[name]} features, max|diff| vs onnxruntime-python "
                  f"{worst_f:.3g} (logits {worst_l:.3g}), {wire / 10:.0f} wire bytes per row")


def test_resnet18_through_a_sigkilled_worker(go_bins, arch_cluster, arch_root):
    """The worker reading the split is SIGKILLed after its first batch: the client resumes
    on the other worker, and every image's features are the same, once."""
    root = arch_root[0]
    images = os.path.join(root, "images")
    kw = dict(transforms=TRANSFORMS, tensor=TENSOR, model=_model(root, "resnet18"), pixels=False)
    want = _by_origin(imageflight.read_images(images, coordinator=arch_cluster.location, **kw), "features")
    got = _by_origin(read_killing_a_worker(go_bins, root, images, kw), "features")
    assert set(got) == set(want) and len(got) == 10
    for o, v in want.items():
        assert (v is None) == (got[o] is None)
        if v is not None:
            assert np.abs(np.asarray(got[o]) - np.asarray(v)).max() <= 1e-5, o


class Standardize(torch.nn.Module):
    def __init__(self, xs):
        super().__init__()
        self.register_buffer("mean", xs.mean(0))
        self.register_buffer("std", xs.std(0) + 1e-6)

    def forward(self, x):
        return (x - self.mean) / self.std


def test_dataset_model_columns_train_a_linear_head(arch_cluster, arch_root):
    """ImageFlightDataset(model=...): each sample carries the features (no pixels), equal to
    the raw read's; a linear head trains on them through a DataLoader with 2 workers."""
    from torch.utils.data import DataLoader

    from imageflight.torch import ImageFlightDataset

    root = arch_root[0]
    images = os.path.join(root, "images")
    model = imageflight.Model(os.path.join(root, "models", "resnet18.onnx"), fetch={"features": "features"})
    raw, _ = _read(arch_cluster.location, {"path": images, "transforms": TRANSFORMS, "tensor": TENSOR,
                                           "model": model.to_json(), "pixels": False})
    want = {o: v for o, v in _by_origin(raw, "features").items() if v is not None}
    ds = ImageFlightDataset(images, arch_cluster.location, label_column="cls", classes=CLASSES, num_partitions=4,
                            transforms=TRANSFORMS, tensor=TENSOR, model=model, shuffle=True, shuffle_seed=1,
                            shuffle_buffer=16)  # batches of both classes
    assert ds.plan.model_columns == ("features",) and ds.plan.partition_columns == ["cls"]
    loader = DataLoader(ds, batch_size=4, num_workers=2)

    seen = {}
    for batch in loader:
        assert set(batch) == {"origin", "label", "features"}  # no pixels
        assert batch["features"].dtype == torch.float32 and batch["features"].shape[1:] == (512,)
        for o, f, y in zip(batch["origin"], batch["features"], batch["label"]):
            seen[o] = (f.numpy(), int(y))
    assert set(seen) == set(want), "every decodable image once, the undecodable one skipped"
    for o, (f, y) in seen.items():
        assert np.abs(f - np.asarray(want[o], np.float32)).max() <= 1e-5, o
        assert CLASSES[y] == ("jpeg" if o.endswith(".jpg") else "png")

    xs = torch.from_numpy(np.stack([f for f, _ in seen.values()]))
    ys = torch.tensor([y for _, y in seen.values()])
    # Seeded random weights give features close to one another: standardise them (the
    # statistics of the first pass), as one would before a linear probe.
    torch.manual_seed(0)
    head = torch.nn.Sequential(Standardize(xs), torch.nn.Linear(512, len(CLASSES)))
    opt = torch.optim.SGD(head.parameters(), lr=0.05)

    def full_loss() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(head(xs), ys))

    before, steps = full_loss(), 0
    for epoch in range(3):
        ds.set_epoch(epoch)
        for batch in loader:
            loss = torch.nn.functional.cross_entropy(head(batch["features"]), batch["label"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
    after = full_loss()
    assert steps >= 3 * 3, steps  # 9 samples in batches of at most 4, 3 epochs
    assert np.isfinite(after) and after < before, (before, after)
    REPORT.append(f"ImageFlightDataset(model=resnet18): {steps} SGD steps of a linear head on worker features, "
                  f"loss {before:.3f} -> {after:.3f}")

    # pixels=True keeps the transformed image beside the features.
    ds2 = ImageFlightDataset(images, arch_cluster.location, label_column="cls", classes=CLASSES,
                             transforms=TRANSFORMS, tensor=TENSOR, model=model, pixels=True)
    sample = next(iter(ds2))
    assert sample["image"].shape == (SIDE, SIDE, 3) and sample["image"].dtype == torch.uint8
    assert np.abs(sample["features"].numpy() - np.asarray(want[sample["origin"]], np.float32)).max() <= 1e-5
