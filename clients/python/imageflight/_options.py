"""Validation of the read options, and the JSON command for GetFlightInfo built from them.

The options are checked here with Python's names (``num_partitions``) for friendlier
messages, then the command is checked against the wire contract itself
(docs/protocol.md, "Descriptor"; ``_wire.parse_descriptor``), so the client refuses exactly
what the coordinator would refuse."""

from __future__ import annotations

import math
import os
from typing import Any, Dict, Optional

from ._errors import InvalidArgument
from ._wire import parse_descriptor
from .transforms import stages_json, tensor_json


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
) -> Dict[str, Any]:
    """Validates the read options and returns the JSON command for GetFlightInfo."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path.strip():
        raise InvalidArgument(f"path must be a non-empty string, got {path!r}")
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
        "path": path,
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
    return parse_descriptor(command)


def _check_stall_timeout(value: Any) -> Optional[float]:
    if value is None:
        return None
    value = _as_float("stall_timeout", value)
    if value <= 0:
        raise InvalidArgument(f"stall_timeout must be > 0 seconds (or None), got {value}")
    return value
