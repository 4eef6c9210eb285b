"""The training-loop API as a torchvision user meets it (issue 17): Transforms/Tensor
spellings, keyword errors, up-front validation, lengths. Server round trips use the
session's standalone server."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import imageflight
from imageflight import Tensor, Transforms
from imageflight import client as C
from imageflight.transforms import IMAGENET_MEAN, IMAGENET_STD


# --- Tensor: ImageNet preset and the unscaled-normalisation warning ----------------------

def test_tensor_imagenet_preset():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = Tensor.imagenet()
    assert t.to_json() == {"tensorChannelOrder": "RGB", "colorScaleFactor": 1 / 255,
                           "tensorElementType": "float", "normalizeMean": list(IMAGENET_MEAN),
                           "normalizeStd": list(IMAGENET_STD), "autoConvertToColor": True}
    assert "autoConvertToColor" not in Tensor.imagenet(auto_convert_to_color=False).to_json()
    assert Tensor.imagenet("BGR", "double").to_json()["tensorChannelOrder"] == "BGR"


@pytest.mark.parametrize("make", [
    lambda: Tensor(normalize_mean=IMAGENET_MEAN, normalize_std=IMAGENET_STD),
    lambda: C.build_command("/d", tensor={"normalizeMean": [0.5] * 3, "normalizeStd": [0.5] * 3}),
    lambda: C.build_command("/d", tensor='{"normalizeMean": [0.5], "normalizeStd": [0.25]}'),
], ids=["Tensor", "dict", "json"])
def test_torchvision_stats_without_scale_warn(make):
    with pytest.warns(UserWarning, match=r"color_scale_factor=1/255.*Tensor\.imagenet\(\)"):
        make()


@pytest.mark.parametrize("kwargs", [
    dict(normalize_mean=IMAGENET_MEAN, normalize_std=IMAGENET_STD, color_scale_factor=1 / 255),
    dict(normalize_mean=[123.7, 116.3, 103.5], normalize_std=[58.4, 57.1, 57.4]),  # 0..255 stats
    dict(),
    dict(normalize_mean=[0.5, 0.5, 0.5]),  # no std: nothing to judge
], ids=["scaled", "pixel-stats", "none", "mean-only"])
def test_consistent_tensor_params_do_not_warn(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Tensor(**kwargs)


def test_imagenet_preset_values_on_the_server(coordinator, corpus):
    t = C.read_images(f"{corpus.images}/cls=png/rgb8.png", coordinator,
                      transforms=Transforms().resize(8, 8), tensor=Tensor.imagenet())
    v = t.column("tensor").combine_chunks().to_numpy_ndarray()
    assert v.shape[1:] == (3, 8, 8)
    lo = (0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    hi = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert (v >= lo[:, None, None] - 1e-4).all() and (v <= hi[:, None, None] + 1e-4).all()


# --- Transforms.resize: torchvision's one-argument form ----------------------------------

@pytest.mark.parametrize("build, stage", [
    (lambda: Transforms().resize(224), {"size": 224, "keepAspectRatio": True}),
    (lambda: Transforms().resize(size=224), {"size": 224, "keepAspectRatio": True}),
    (lambda: Transforms().resize(224, keep_aspect_ratio=True), {"size": 224, "keepAspectRatio": True}),
    (lambda: Transforms().resize(224, keep_aspect_ratio=False), {"size": 224, "keepAspectRatio": False}),
    (lambda: Transforms().resize(20, 30), {"height": 20, "width": 30}),
    (lambda: Transforms().resize(height=20, width=30), {"height": 20, "width": 30}),
    (lambda: Transforms().resize(224, interpolation="antialias"),
     {"size": 224, "keepAspectRatio": True, "interpolation": "antialias"}),
    (lambda: Transforms().resize(20, 30, interpolation="area"), {"height": 20, "width": 30, "interpolation": "area"}),
], ids=["positional", "size", "keep", "square", "exact", "exact-kw", "antialias", "area"])
def test_resize_forms(build, stage):
    assert build().to_json() == [{"action": "resize", **stage}]


@pytest.mark.parametrize("build, match", [
    (lambda: Transforms().resize(width=30), r"needs a height.*resize\(30\)"),
    (lambda: Transforms().resize(20, 30, keep_aspect_ratio=True), "keep_aspect_ratio applies to the one-size form"),
    (lambda: Transforms().resize(20, size=30), "not both"),
])
def test_resize_refuses_ambiguous_forms_on_the_client(build, match):
    with pytest.raises(C.InvalidArgument, match=match):
        build()


def test_resize_shorter_side_on_the_server(coordinator, corpus):
    """resize(16) sent {"width": null} before and the server answered
    "transforms[0].width: missing"."""
    from PIL import Image

    path = f"{corpus.images}/cls=png/rgb8.png"
    w, h = Image.open(path).size
    t = C.read_images(path, coordinator, transforms=Transforms().resize(16))
    img = t.column("image").combine_chunks()
    got = (img.field("height")[0].as_py(), img.field("width")[0].as_py())
    short = min(w, h)
    want = (16, round(16 * w / short)) if h == short else (round(16 * h / short), 16)
    assert got == want, (w, h)


# --- misspelled keywords name the public function and the closest keyword ---------------

@pytest.mark.parametrize("func", [C.read_images, C.iter_batches, C.get_plan, imageflight.read_images],
                         ids=["read_images", "iter_batches", "get_plan", "package-read_images"])
@pytest.mark.parametrize("bad, good", [("recursve", "recursive"), ("path_glob", "path_glob_filter"),
                                       ("fileExtensions", "file_extensions")])
def test_misspelled_keyword_names_the_public_function(func, bad, good):
    with pytest.raises(TypeError) as err:
        func("/data", **{bad: True})
    msg = str(err.value)
    assert msg.startswith(f"{func.__name__}() got an unexpected keyword argument {bad!r}"), msg
    assert f"did you mean {good!r}?" in msg and "build_command" not in msg, msg


def test_unrelated_keyword_gets_no_suggestion():
    with pytest.raises(TypeError, match=r"^read_images\(\) got an unexpected keyword argument 'zzz'$"):
        C.read_images("/data", zzz=1)
