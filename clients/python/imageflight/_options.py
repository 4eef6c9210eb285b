"""Validation of the read options, and the JSON command for GetFlightInfo built from them.

The options are checked here with Python's names (``num_partitions``) for friendlier
messages, then the command is checked against the wire contract itself
(docs/protocol.md, "Descriptor"; ``_wire.parse_descriptor``), so the client refuses exactly
what the coordinator would refuse."""

from __future__ import annotations

import difflib
import inspect
import json
import math
import os
from typing import Any, Callable, Dict, List, Optional, Sequence

from ._errors import InvalidArgument
from ._wire import parse_descriptor
from .transforms import model_json, stages_json, tensor_json


_BOOL_TRUE = {"true", "1", "yes", "on"}
_BOOL_FALSE = {"false", "0", "no", "off"}


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOL_TRUE | _BOOL_FALSE:
        return value.strip().lower() in _BOOL_TRUE
    raise InvalidArgument(f"{name} must be a boolean, got {value!r}")


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidArgument(f"{name} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidArgument(f"{name} must be an integer, got {value!r}")


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidArgument(f"{name} must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be a number, got {value!r}") from None
    if math.isnan(out):
        raise InvalidArgument(f"{name} must be a number, got {value!r}")
    return out


def resolve_path(path: str) -> str:
    """A relative local path (no ``scheme:``) is made absolute against this process's
    current directory, as Spark's ``load`` does; URIs and absolute paths are kept."""
    if "://" in path or path.startswith("file:") or os.path.isabs(path):
        return path
    return os.path.abspath(path)


#: The keyword-only selection options of build_command, which read_images, iter_batches
#: and get_plan take as ``**selection``.
SELECTION_KEYS = ("base_path", "path_glob_filter", "file_extensions", "limit",
                  "partition_filters", "pixels", "failure_reasons", "model")


def check_selection(public: Callable[..., Any], selection: Dict[str, Any]) -> None:
    """Raises TypeError for a keyword in ``selection`` that ``public`` (a public function
    taking ``**selection``) does not know, naming that function -- not build_command,
    which the user never called -- and the closest valid keyword."""
    for key in selection:
        if key in SELECTION_KEYS:
            continue
        params = [n for n, p in inspect.signature(public).parameters.items()
                  if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        close = difflib.get_close_matches(key, params + list(SELECTION_KEYS), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(f"{public.__name__}() got an unexpected keyword argument {key!r}{hint}")


def build_command(
    path: Any,
    recursive: Any = False,
    num_partitions: Any = -1,
    drop_image_failures: Any = False,
    sample_ratio: Any = 1.0,
    seed: Any = 0,
    transforms: Any = None,
    tensor: Any = None,
    fast_resize: Any = False,
    *,
    base_path: Any = None,
    path_glob_filter: Any = None,
    file_extensions: Any = None,
    limit: Any = None,
    partition_filters: Any = None,
    pixels: Any = True,
    failure_reasons: Any = False,
    model: Any = None,
) -> Dict[str, Any]:
    """Validates the read options and returns the JSON command for GetFlightInfo.

    ``path`` is one path or a list of paths, each possibly a Hadoop glob (``*``, ``?``,
    ``[abc]``, ``[^a]``, ``{a,b}``); relative local paths are made absolute here, against
    the client's working directory. The keyword-only options are the selection keys of
    docs/protocol.md: ``base_path`` (Spark's basePath), ``path_glob_filter`` (Spark's
    pathGlobFilter), ``file_extensions`` (Ray's file_extensions: a list, or a comma-separated
    string), ``limit`` (exact file count, by the sampling hash), ``partition_filters`` (a list
    of ``{"column", "op", "value"/"values"}`` dicts), ``pixels`` (False: header-only rows) and
    ``failure_reasons`` (add the ``failure`` column), and ``model`` (an ONNX model the
    workers run on the tensor: :class:`~imageflight.Model`, docs/models.md)."""
    paths = _paths(path)
    recursive = _as_bool("recursive", recursive)
    drop = _as_bool("drop_image_failures", drop_image_failures)
    num_partitions = _as_int("num_partitions", num_partitions)
    if num_partitions == 0 or num_partitions < -1:
        raise InvalidArgument(
            f"num_partitions must be -1 (server chooses) or a positive integer, got {num_partitions}"
        )
    sample_ratio = _as_float("sample_ratio", sample_ratio)
    if not 0.0 <= sample_ratio <= 1.0:
        raise InvalidArgument(f"sample_ratio must be in [0, 1], got {sample_ratio}")
    seed = _as_int("seed", seed)
    if not -(2**63) <= seed < 2**63:
        raise InvalidArgument(f"seed must fit in a signed 64-bit integer, got {seed}")
    command = {
        "path": paths[0] if len(paths) == 1 else paths,
        "recursive": recursive,
        "numPartitions": num_partitions,
        "sampleRatio": sample_ratio,
        "seed": seed,
        "dropImageFailures": drop,
    }
    stages, params = stages_json(transforms), tensor_json(tensor)
    if stages is not None:
        command["transforms"] = stages
    if params is not None:
        command["tensor"] = params
    if _as_bool("fast_resize", fast_resize):
        command["fastResize"] = True
    command.update(_selection(base_path, path_glob_filter, file_extensions, limit, partition_filters,
                              pixels, failure_reasons))
    params = model_json(model)
    if params is not None:
        command["model"] = params
    return parse_descriptor(command)


def _resolve(path: Any, name: str = "path") -> str:
    """A path as the server reads it: PathLike to str, relative local paths made absolute
    against the client's working directory (URIs and absolute paths as given)."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path.strip():
        raise InvalidArgument(f"{name} must be a non-empty string, got {path!r}")
    return resolve_path(path)


def _paths(path: Any) -> List[str]:
    if isinstance(path, (list, tuple)):
        if not path:
            raise InvalidArgument("path must be a path or a non-empty list of paths, got []")
        return [_resolve(p) for p in path]
    return [_resolve(path)]


def _str_list(name: str, value: Any) -> List[str]:
    """A list of strings from a list, or from a comma-separated or JSON-list string (as
    Spark options arrive)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise InvalidArgument(f"{name} must be a list of strings, got {value!r}") from None
        else:
            value = [v.strip() for v in text.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{name} must be a list of strings, got {value!r}")
    return list(value)


def _selection(base_path: Any, path_glob_filter: Any, file_extensions: Any, limit: Any,
               partition_filters: Any, pixels: Any, failure_reasons: Any) -> Dict[str, Any]:
    """The selection keys that differ from their defaults."""
    out: Dict[str, Any] = {}
    if base_path is not None:
        out["basePath"] = _resolve(base_path, "base_path")
    if path_glob_filter is not None:
        if not isinstance(path_glob_filter, str):
            raise InvalidArgument(f"path_glob_filter must be a string, got {path_glob_filter!r}")
        out["pathGlobFilter"] = path_glob_filter
    if file_extensions is not None:
        out["fileExtensions"] = _str_list("file_extensions", file_extensions)
    if limit is not None:
        out["limit"] = _as_int("limit", limit)
        if out["limit"] < 0:
            raise InvalidArgument(f"limit must be a file count >= 0, got {out['limit']}")
    if partition_filters is not None:
        if isinstance(partition_filters, str):
            try:
                partition_filters = json.loads(partition_filters)
            except ValueError:
                raise InvalidArgument(f"partition_filters must be a JSON list, got {partition_filters!r}") from None
        if not isinstance(partition_filters, Sequence) or isinstance(partition_filters, str):
            raise InvalidArgument(f"partition_filters must be a list of filter dicts, got {partition_filters!r}")
        out["partitionFilters"] = [dict(f) if isinstance(f, dict) else f for f in partition_filters]
    if not _as_bool("pixels", pixels):
        out["pixels"] = False
    if _as_bool("failure_reasons", failure_reasons):
        out["failureReasons"] = True
    return out


def _check_stall_timeout(value: Any) -> Optional[float]:
    if value is None:
        return None
    value = _as_float("stall_timeout", value)
    if value <= 0:
        raise InvalidArgument(f"stall_timeout must be > 0 seconds (or None), got {value}")
    return value
