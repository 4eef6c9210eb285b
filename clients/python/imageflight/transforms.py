"""SynapseML ImageTransformer stages, built fluently, for the workers to apply at decode
time (docs/transforms.md). The stage names and keys are SynapseML's::

    from imageflight import Tensor, Transforms
    t = Transforms().resize(256).centercrop(224, 224)   # torchvision's Resize(256), CenterCrop(224)
    table = imageflight.read_images(path, transforms=t, tensor=Tensor.imagenet())

A plain list of stage dicts (SynapseML's JSON spelling) is accepted wherever a
``Transforms`` is."""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Optional, Sequence

from ._errors import InvalidArgument

#: torchvision's ImageNet normalisation (``transforms.Normalize(mean, std)``), for pixels
#: scaled to [0, 1]: use with ``color_scale_factor=1/255`` (``Tensor.imagenet()`` does).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Transforms:
    """An ordered list of image stages (SynapseML ``ImageTransformer`` semantics)."""

    def __init__(self, stages: Optional[Sequence[Dict[str, Any]]] = None):
        self.stages: List[Dict[str, Any]] = [dict(s) for s in (stages or [])]

    def _add(self, action: str, **params: Any) -> "Transforms":
        return Transforms(self.stages + [dict(action=action, **params)])

    def resize(self, height: Optional[int] = None, width: Optional[int] = None, *,
               size: Optional[int] = None, keep_aspect_ratio: Optional[bool] = None,
               interpolation: Optional[str] = None) -> "Transforms":
        """Resizes with OpenCV's INTER_LINEAR (SynapseML's), or with ``interpolation``
        (an imageflight extension): ``"area"`` (OpenCV's INTER_AREA) or ``"antialias"``
        (torchvision's ``Resize(antialias=True)`` on uint8 pixels). Three forms:

        - ``resize(224)`` (or ``size=224``): the shorter side becomes 224, the aspect ratio
          is kept -- torchvision's ``Resize(224)``; the longer side is rounded where
          torchvision truncates, so it can be one pixel longer (SynapseML's
          ``size``/``keepAspectRatio: true`` stage);
        - ``resize(224, keep_aspect_ratio=False)``: 224×224;
        - ``resize(h, w)``: exactly h×w (torchvision's ``Resize((h, w))``).
        """
        if size is not None and (height is not None or width is not None):
            raise InvalidArgument(f"Transforms.resize: pass size={size} or height/width, not both")
        if size is None and width is None:
            size = height
        extra = {} if interpolation is None else {"interpolation": interpolation}
        if size is not None:
            keep = True if keep_aspect_ratio is None else bool(keep_aspect_ratio)
            return self._add("resize", size=size, keepAspectRatio=keep, **extra)
        if height is None:
            raise InvalidArgument(
                f"Transforms.resize(width={width}) needs a height: resize(height, width) for "
                f"exactly height x width, or resize({width}) for the shorter side"
            )
        if keep_aspect_ratio is not None:
            raise InvalidArgument(
                "Transforms.resize: keep_aspect_ratio applies to the one-size form "
                f"resize({height}, keep_aspect_ratio=...), not to resize(height, width)"
            )
        return self._add("resize", height=height, width=width, **extra)

    def crop(self, x: int, y: int, height: int, width: int) -> "Transforms":
        return self._add("crop", x=x, y=y, height=height, width=width)

    def centercrop(self, height: int, width: int) -> "Transforms":
        return self._add("centercrop", height=height, width=width)

    def colorformat(self, format: int) -> "Transforms":
        """OpenCV ``cvtColor`` code, e.g. 4 (BGR2RGB), 6 (BGR2GRAY), 8 (GRAY2BGR)."""
        return self._add("colorformat", format=format)

    def flip(self, flip_code: int = 1) -> "Transforms":
        return self._add("flip", flipCode=flip_code)

    def blur(self, height: int, width: int) -> "Transforms":
        return self._add("blur", height=height, width=width)

    def threshold(self, threshold: float, max_val: float, type: int = 0) -> "Transforms":
        return self._add("threshold", threshold=threshold, maxVal=max_val, type=type)

    def gaussiankernel(self, aperture_size: int, sigma: float) -> "Transforms":
        return self._add("gaussiankernel", apertureSize=aperture_size, sigma=sigma)

    def to_json(self) -> List[Dict[str, Any]]:
        return [dict(s) for s in self.stages]

    def json(self) -> str:
        """The stage list as JSON text, e.g. for Spark's ``.option("transforms", ...)``."""
        import json
        return json.dumps(self.to_json())

    def __repr__(self) -> str:
        return f"Transforms({self.stages!r})"


class Tensor:
    """SynapseML's toTensor parameters: a ``tensor`` column (C×H×W) beside ``image``.

    SynapseML's arithmetic is ``(pixel * color_scale_factor - mean) / std`` on 0..255
    pixels, so torchvision's means and stds (for [0, 1] pixels) need
    ``color_scale_factor=1/255``: ``Tensor.imagenet()`` is ``ToTensor()`` +
    ``Normalize(IMAGENET_MEAN, IMAGENET_STD)``. Means and stds all below 1 with a scale of
    1 warn (they would give values up to ~1100).

    ``auto_convert_to_color`` (SynapseML's ``autoConvertToColor``, off by default as there)
    makes gray images three equal channels first; without it a gray image gives a 1×H×W
    tensor, which a 3-channel column holds as null (and three means fail that image)."""

    def __init__(self, channel_order: str = "RGB", normalize_mean: Optional[Sequence[float]] = None,
                 normalize_std: Optional[Sequence[float]] = None, color_scale_factor: float = 1.0,
                 element_type: str = "float", auto_convert_to_color: bool = False):
        self.params: Dict[str, Any] = {"tensorChannelOrder": channel_order,
                                       "colorScaleFactor": color_scale_factor,
                                       "tensorElementType": element_type}
        if auto_convert_to_color:
            self.params["autoConvertToColor"] = True
        if normalize_mean is not None:
            self.params["normalizeMean"] = list(normalize_mean)
        if normalize_std is not None:
            self.params["normalizeStd"] = list(normalize_std)
        _warn_unscaled(self.params, stacklevel=3)

    @classmethod
    def imagenet(cls, channel_order: str = "RGB", element_type: str = "float",
                 auto_convert_to_color: bool = True) -> "Tensor":
        """torchvision's ``ToTensor()`` + ``Normalize(IMAGENET_MEAN, IMAGENET_STD)``:
        pixels scaled by 1/255, then normalised with ImageNet's means and stds; gray images
        made RGB first, as PIL's ``convert("RGB")`` in a torchvision pipeline does (an
        ImageNet model takes three channels)."""
        return cls(channel_order=channel_order, normalize_mean=IMAGENET_MEAN,
                   normalize_std=IMAGENET_STD, color_scale_factor=1 / 255, element_type=element_type,
                   auto_convert_to_color=auto_convert_to_color)

    def to_json(self) -> Dict[str, Any]:
        return dict(self.params)

    def json(self) -> str:
        """The parameters as JSON text, e.g. for Spark's ``.option("tensor", ...)``."""
        import json
        return json.dumps(self.to_json())

    def __repr__(self) -> str:
        return f"Tensor({self.params!r})"


class Model:
    """SynapseML ``ONNXModel``'s parameters: an ONNX model the workers run on the ``tensor``
    of every image, streaming its outputs instead of the tensor (docs/models.md).

    ``location``: the model file, a path or ``hdfs://`` URI inside a served root.
    ``fetch``: column -> model output (``fetchDict``). ``input``: the model's input fed the
    tensor (``feedDict`` is ``{input: "tensor"}``). ``mini_batch_size``: images per inference
    call (SynapseML's default 10). ``softmax`` / ``argmax``: source column -> new column
    (``softMaxDict`` / ``argMaxDict``)."""

    def __init__(self, location: Any, fetch: Dict[str, str], input: str = "input",
                 mini_batch_size: Optional[int] = None, softmax: Optional[Dict[str, str]] = None,
                 argmax: Optional[Dict[str, str]] = None):
        import os
        if isinstance(location, os.PathLike):
            location = os.fspath(location)
        if isinstance(location, str) and "://" not in location and not location.startswith("file:"):
            location = os.path.abspath(location)
        self.params: Dict[str, Any] = {"modelLocation": location, "feedDict": {input: "tensor"},
                                       "fetchDict": dict(fetch)}
        if mini_batch_size is not None:
            self.params["miniBatchSize"] = mini_batch_size
        if softmax:
            self.params["softMaxDict"] = dict(softmax)
        if argmax:
            self.params["argMaxDict"] = dict(argmax)

    def to_json(self) -> Dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.params.items()}

    def json(self) -> str:
        """The parameters as JSON text, e.g. for Spark's ``.option("model", ...)``."""
        import json
        return json.dumps(self.to_json())

    def __repr__(self) -> str:
        return f"Model({self.params!r})"


def model_json(model: Any) -> Optional[Dict[str, Any]]:
    """The JSON ONNXModel parameters of a Model, a dict, or a JSON string."""
    if model is None:
        return None
    if isinstance(model, Model):
        return model.to_json()
    if isinstance(model, str):
        import json
        return json.loads(model)
    return dict(model)


def _warn_unscaled(params: Dict[str, Any], stacklevel: int) -> None:
    """Warns about torchvision-style means/stds (all below 1) on unscaled 0..255 pixels."""
    mean, std = params.get("normalizeMean"), params.get("normalizeStd")
    scale = params.get("colorScaleFactor", 1.0)
    try:
        suspicious = (bool(mean) and bool(std) and float(scale) == 1.0
                      and all(abs(float(v)) < 1 for v in list(mean) + list(std)))
    except (TypeError, ValueError):
        return  # malformed values: the server names them
    if suspicious:
        warnings.warn(
            "imageflight: normalize_mean/normalize_std are all below 1 (torchvision's values, for "
            "pixels in [0, 1]) but color_scale_factor is 1, so they apply to 0..255 pixels and give "
            "values up to ~1100; pass color_scale_factor=1/255 (Tensor.imagenet() for ImageNet's)",
            UserWarning, stacklevel=stacklevel)


def stages_json(transforms: Any) -> Optional[List[Dict[str, Any]]]:
    """The JSON stage list of a Transforms, a list of dicts, or a JSON string."""
    if transforms is None:
        return None
    if isinstance(transforms, Transforms):
        return transforms.to_json()
    if isinstance(transforms, str):
        import json
        return json.loads(transforms)
    return [dict(s) for s in transforms]


def tensor_json(tensor: Any) -> Optional[Dict[str, Any]]:
    """The JSON tensor parameters of a Tensor, a dict, a JSON string, or True (defaults)."""
    if tensor is None or tensor is False:
        return None
    if tensor is True:
        return {}
    if isinstance(tensor, Tensor):
        return tensor.to_json()
    if isinstance(tensor, str):
        import json
        text = tensor.strip()
        return tensor_json(json.loads(text) if text[:1] in "{[" else text.lower() in ("true", "1", "yes", "on"))
    params = dict(tensor)
    _warn_unscaled(params, stacklevel=4)
    return params
