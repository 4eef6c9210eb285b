"""The wire contract of imageflight, as this client speaks it: descriptor validation, the
resume suffix of tickets and the batch metadata. docs/protocol.md states the contract;
pkg/wire is the Go side, and both check the shared vectors in
pkg/wire/testdata/vectors.json (test/python/test_wire_vectors.py)."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, Optional, Tuple

from ._errors import InvalidArgument

#: Largest ``numPartitions`` (protocol.md, "Descriptor").
MAX_PARTITIONS = 100_000
#: Longest ``path``, in UTF-8 bytes.
MAX_PATH_BYTES = 4096

_INT64 = (-(2**63), 2**63 - 1)


class DescriptorError(InvalidArgument):
    """A descriptor the coordinator would refuse; ``key`` names the offending key ("" when
    the command is not a JSON object)."""

    def __init__(self, key: str, message: str):
        super().__init__(f'descriptor key "{key}": {message}' if key else f"descriptor: {message}")
        self.key = key


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and _INT64[0] <= v <= _INT64[1]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# key -> (field, type check, type name)
_KEYS = {
    "path": ("path", lambda v: isinstance(v, str), "string"),
    "recursive": ("recursive", _bool, "bool"),
    "numPartitions": ("numPartitions", _int, "int"),
    "sampleRatio": ("sampleRatio", _number, "float64"),
    "seed": ("seed", _int, "int64"),
    "dropImageFailures": ("dropImageFailures", _bool, "bool"),
    "dropInvalid": ("dropImageFailures", _bool, "bool"),  # Spark's name
    # Stage lists and tensor parameters are any JSON at decoding; their structure is
    # checked with the ranges, their parameters by the server (pkg/transform).
    "transforms": ("transforms", lambda v: True, "list"),
    "tensor": ("tensor", lambda v: True, "object"),
    "fastResize": ("fastResize", _bool, "bool"),
}


def parse_descriptor(cmd: Any) -> Dict[str, Any]:
    """Validates a descriptor command (a dict, or its JSON text) the way the coordinator
    does and returns it with every default filled in. Raises :class:`DescriptorError`."""
    if isinstance(cmd, (str, bytes)):
        try:
            cmd = json.loads(cmd)
        except ValueError as e:
            raise DescriptorError("", f"not a JSON object: {e}") from None
    if not isinstance(cmd, dict):
        raise DescriptorError("", "not a JSON object")
    keys = sorted(cmd)  # the first problem reported does not depend on key order
    for k in keys:
        if k not in _KEYS:
            raise DescriptorError(k, "unknown key")
    out: Dict[str, Any] = {"path": "", "recursive": False, "numPartitions": -1,
                           "sampleRatio": 1.0, "seed": 0, "dropImageFailures": False}
    for k in keys:
        field, ok, type_name = _KEYS[k]
        if not ok(cmd[k]):
            raise DescriptorError(k, f"must be a {type_name}, got {cmd[k]!r}")
        out[field] = float(cmd[k]) if field == "sampleRatio" else cmd[k]
    if out.get("fastResize") is False:
        del out["fastResize"]  # the default, as the server writes it
    path, n, ratio = out["path"], out["numPartitions"], out["sampleRatio"]
    if path == "":
        raise DescriptorError("path", "required")
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise DescriptorError("path", f"longer than {MAX_PATH_BYTES} bytes")
    if "\x00" in path:
        raise DescriptorError("path", "contains a NUL byte")
    if n < -1 or n == 0 or n > MAX_PARTITIONS:
        raise DescriptorError("numPartitions",
                              f"must be -1 (server default) or a count from 1 to {MAX_PARTITIONS}, got {n}")
    if math.isnan(ratio) or not 0.0 <= ratio <= 1.0:
        raise DescriptorError("sampleRatio", f"must be within [0, 1], got {ratio}")
    _check_pipeline(out.get("transforms"), out.get("tensor"))
    return out


def _check_pipeline(transforms: Any, tensor: Any) -> None:
    """The structure of ``transforms`` and ``tensor`` (docs/transforms.md); stage
    parameters are the server's to check."""
    if transforms is not None:
        if not isinstance(transforms, list):
            raise DescriptorError("transforms", f"must be a list of stages, got {transforms!r}")
        for i, st in enumerate(transforms):
            if not isinstance(st, dict) or not isinstance(st.get("action"), str):
                raise DescriptorError("transforms", f'transforms[{i}]: must be an object with an "action", got {st!r}')
    if tensor is not None and not isinstance(tensor, dict):
        raise DescriptorError("tensor", f"must be an object of tensor parameters, got {tensor!r}")


_RESUME_SEP = b";skip="
_SKIP_DIGITS = re.compile(rb"[0-9]+")


def resume_ticket(ticket: bytes, skip: int) -> bytes:
    """The ticket that resumes a stream at split position ``skip`` (the ``next`` of the
    last batch received); ``skip`` 0 returns the ticket unchanged."""
    return ticket if skip <= 0 else ticket + _RESUME_SEP + str(int(skip)).encode()


def parse_resume(wire: bytes) -> Tuple[bytes, int]:
    """Splits a DoGet ticket into the ticket as signed and its resume position."""
    i = wire.rfind(_RESUME_SEP)
    if i < 0:
        return wire, 0
    digits = wire[i + len(_RESUME_SEP):]
    if not _SKIP_DIGITS.fullmatch(digits) or int(digits) >= 2**31:
        raise InvalidArgument(f"malformed ticket: bad resume suffix {digits[:32]!r}")
    return wire[:i], int(digits)


def parse_batch_meta(raw: Optional[bytes]) -> Optional[int]:
    """The resume position (``next``) of a batch's app_metadata; None when absent or not
    a non-negative integer."""
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    n = doc.get("next") if isinstance(doc, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else None
