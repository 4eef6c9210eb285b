"""SynapseML ImageTransformer stages, built fluently, for the workers to apply at decode
time (docs/transforms.md). The stage names and keys are SynapseML's::

    from imageflight import Transforms
    t = Transforms().resize(224, keep_aspect_ratio=True).centercrop(224, 224)
    table = imageflight.read_images(path, transforms=t, tensor=Tensor(normalize_mean=..., ...))

A plain list of stage dicts (SynapseML's JSON spelling) is accepted wherever a
``Transforms`` is."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence


class Transforms:
    """An ordered list of image stages (SynapseML ``ImageTransformer`` semantics)."""

    def __init__(self, stages: Optional[Sequence[Dict[str, Any]]] = None):
        self.stages: List[Dict[str, Any]] = [dict(s) for s in (stages or [])]

    def _add(self, action: str, **params: Any) -> "Transforms":
        return Transforms(self.stages + [dict(action=action, **params)])

    def resize(self, height: Optional[int] = None, width: Optional[int] = None, *,
               size: Optional[int] = None, keep_aspect_ratio: Optional[bool] = None) -> "Transforms":
        """``resize(224, keep_aspect_ratio=True)``: shorter side to 224; ``resize(h, w)``:
        exactly h×w (OpenCV INTER_LINEAR)."""
        if keep_aspect_ratio is not None or size is not None:
            return self._add("resize", size=size if size is not None else height,
                             keepAspectRatio=bool(keep_aspect_ratio))
        return self._add("resize", height=height, width=width)

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
    """SynapseML's toTensor parameters: a ``tensor`` column (C×H×W) beside ``image``."""

    def __init__(self, channel_order: str = "RGB", normalize_mean: Optional[Sequence[float]] = None,
                 normalize_std: Optional[Sequence[float]] = None, color_scale_factor: float = 1.0,
                 element_type: str = "float"):
        self.params: Dict[str, Any] = {"tensorChannelOrder": channel_order,
                                       "colorScaleFactor": color_scale_factor,
                                       "tensorElementType": element_type}
        if normalize_mean is not None:
            self.params["normalizeMean"] = list(normalize_mean)
        if normalize_std is not None:
            self.params["normalizeStd"] = list(normalize_std)

    def to_json(self) -> Dict[str, Any]:
        return dict(self.params)

    def json(self) -> str:
        """The parameters as JSON text, e.g. for Spark's ``.option("tensor", ...)``."""
        import json
        return json.dumps(self.to_json())


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
    return dict(tensor)
