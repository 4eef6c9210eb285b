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
#: Most paths in a ``path`` list, extensions in ``fileExtensions``, filters in
#: ``partitionFilters`` and values in one ``in`` filter.
MAX_PATHS = 10_000
MAX_FILE_EXTENSIONS = 64
MAX_PARTITION_FILTERS = 256
MAX_FILTER_VALUES = 10_000
#: Characters that make a path a glob (Hadoop's syntax, as Spark's ``isGlobPath``).
GLOB_META = "{}[]*?\\"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # a URI scheme (RFC 3986); relative paths have none
#: Most patterns one path's braces may expand to.
MAX_GLOB_EXPANSIONS = 1024
_FILTER_OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "isNull", "isNotNull")

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


def _paths(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, list) and all(isinstance(p, str) for p in v))


def _opt(check):
    """A key Go decodes into a pointer, slice or string: JSON null leaves it unset."""
    return lambda v: v is None or check(v)


def _filters(v: Any) -> bool:
    """The decoding checks of ``partitionFilters`` (a list of objects with known fields of the
    right JSON types); operators and operands are range checks (:func:`_check_filter`)."""
    if v is None:
        return True
    if not isinstance(v, list):
        return False
    for f in v:
        if not isinstance(f, dict) or set(f) - {"column", "op", "value", "values"}:
            return False
        if not all(isinstance(f.get(k, ""), str) for k in ("column", "op")):
            return False
        if "values" in f and f["values"] is not None and not isinstance(f["values"], list):
            return False
    return True


# key -> (field, type check, type name)
_KEYS = {
    "path": ("path", _paths, "string or a list of strings"),
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
    # SynapseML ONNXModel's parameters; their names and the model file are the server's to check.
    "model": ("model", lambda v: True, "object"),
    "basePath": ("basePath", _opt(lambda v: isinstance(v, str)), "string"),
    "pathGlobFilter": ("pathGlobFilter", _opt(lambda v: isinstance(v, str)), "string"),
    "fileExtensions": ("fileExtensions", _opt(lambda v: isinstance(v, list) and all(isinstance(e, str) for e in v)),
                       "list of strings"),
    "limit": ("limit", _opt(_int), "int"),
    "partitionFilters": ("partitionFilters", _filters, "list of filter objects"),
    "pixels": ("pixels", _bool, "bool"),
    "failureReasons": ("failureReasons", _bool, "bool"),
}

# Keys left out of the parsed descriptor when they hold their default, as the server
# writes it.
_DEFAULTS = {"fastResize": (False,), "pixels": (True,), "failureReasons": (False,), "basePath": ("", None),
             "pathGlobFilter": ("", None), "fileExtensions": ([], None), "limit": (None,),
             "partitionFilters": ([], None)}


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
    for k, defaults in _DEFAULTS.items():
        if k in out and any(out[k] == d and type(out[k]) is type(d) for d in defaults):
            del out[k]
    paths = out["path"] if isinstance(out["path"], list) else [out["path"]]
    if len(paths) == 1:
        out["path"] = paths[0]  # a list of one is the string, as the server writes it
    _check_paths(paths)
    n, ratio = out["numPartitions"], out["sampleRatio"]
    if n < -1 or n == 0 or n > MAX_PARTITIONS:
        raise DescriptorError("numPartitions",
                              f"must be -1 (server default) or a count from 1 to {MAX_PARTITIONS}, got {n}")
    if math.isnan(ratio) or not 0.0 <= ratio <= 1.0:
        raise DescriptorError("sampleRatio", f"must be within [0, 1], got {ratio}")
    _check_selection(out)
    _check_pipeline(out.get("transforms"), out.get("tensor"), out.get("model"))
    return out


def _check_paths(paths: list) -> None:
    if not paths:
        raise DescriptorError("path", "required")
    if len(paths) > MAX_PATHS:
        raise DescriptorError("path", f"more than {MAX_PATHS} paths ({len(paths)})")
    for i, p in enumerate(paths):
        why = _path_problem(p, globs=True)
        if why:
            raise DescriptorError("path", (f"path {i}: " if len(paths) > 1 else "") + why)


def _path_problem(p: str, globs: bool) -> str:
    if p == "":
        return "required"
    if len(p.encode("utf-8")) > MAX_PATH_BYTES:
        return f"longer than {MAX_PATH_BYTES} bytes"
    if "\x00" in p:
        return "contains a NUL byte"
    if not p.startswith("/") and not _SCHEME.match(p):
        shown = p if len(p.encode("utf-8")) <= 64 else p.encode("utf-8")[:64].decode("utf-8", "ignore") + "…"
        return f"{json.dumps(shown, ensure_ascii=False)} is relative: pass an absolute path or a URI (file:/…, hdfs://…)"
    if any(c in GLOB_META for c in p):
        if not globs:
            return f"cannot be a glob (holds one of {GLOB_META})"
        try:
            check_glob_path(p)
        except ValueError as e:
            return str(e)
    return ""


def _check_selection(out: Dict[str, Any]) -> None:
    """The ranges of the selection keys, in the server's order."""
    base = out.get("basePath")
    if base:
        why = _path_problem(base, globs=False)
        if why:
            raise DescriptorError("basePath", why)
    exts = out.get("fileExtensions") or []
    if len(exts) > MAX_FILE_EXTENSIONS:
        raise DescriptorError("fileExtensions", f"more than {MAX_FILE_EXTENSIONS} extensions")
    for e in exts:
        x = e[1:] if e.startswith(".") else e
        if not x or "/" in x or "\x00" in x or len(x.encode("utf-8")) > 255:
            raise DescriptorError("fileExtensions", f"{e!r} is not an extension")
    limit = out.get("limit")
    if limit is not None and limit < 0:
        raise DescriptorError("limit", f"must be a file count >= 0, got {limit}")
    filters = out.get("partitionFilters") or []
    if len(filters) > MAX_PARTITION_FILTERS:
        raise DescriptorError("partitionFilters", f"more than {MAX_PARTITION_FILTERS} filters")
    for i, f in enumerate(filters):
        why = _filter_problem(f)
        if why:
            raise DescriptorError("partitionFilters", f"filter {i}: {why}")
    pat = out.get("pathGlobFilter")
    if pat:
        if "/" in pat:
            raise DescriptorError("pathGlobFilter", "matches file names: it cannot hold a '/'")
        try:
            check_glob(pat)
        except ValueError as e:
            raise DescriptorError("pathGlobFilter", str(e)) from None
    if out.get("pixels") is False and out.get("model") is None and (
            out.get("transforms") is not None or out.get("tensor") is not None):
        raise DescriptorError("pixels", "false (headers only) cannot be combined with transforms or tensor, except with a model")


def _scalar(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _filter_problem(f: Dict[str, Any]) -> str:
    op, value, values = f.get("op", ""), f.get("value"), f.get("values")
    if not f.get("column"):
        return '"column" is required'
    if op in ("=", "!=", "<", "<=", ">", ">="):
        if values is not None:
            return f'op {op!r} takes "value", not "values"'
        return "" if _scalar(value) else '"value" must be a string or a number'
    if op == "in":
        if value is not None or values is None:
            return 'op "in" takes a "values" list'
        if len(values) > MAX_FILTER_VALUES:
            return f'"in" takes at most {MAX_FILTER_VALUES} values'
        return "" if all(_scalar(v) for v in values) else '"values" must hold strings or numbers'
    if op in ("isNull", "isNotNull"):
        return "" if value is None and values is None else f"op {op!r} takes no value"
    return f"op must be one of {', '.join(_FILTER_OPS)}; got {op!r}"


def check_glob(pattern: str) -> None:
    """Checks one name pattern in Hadoop's glob syntax (``*``, ``?``, ``[set]``,
    ``[^set]``, ``{a,b}``, ``\\`` escapes) the way the server compiles it (pkg/glob);
    raises ValueError."""
    curly, i = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern):
                raise ValueError(f"bad glob pattern: {pattern!r} ends with a lone backslash")
            i += 2
            continue
        if c == "{":
            curly += 1
        elif c == "}" and curly > 0:
            curly -= 1
        elif c == "[":
            i = _check_set(pattern, i)
            continue
        i += 1
    if curly:
        raise ValueError(f"bad glob pattern: {pattern!r} has an unclosed '{{'")


def _check_set(pattern: str, i: int) -> int:
    """Checks the [set] at pattern[i]; returns the index after it."""
    j = i + 1
    if j < len(pattern) and pattern[j] in "^!":
        j += 1
    items, prev, ranging = 0, "", False
    while j < len(pattern) and pattern[j] != "]":
        c = pattern[j]
        if c == "\\":
            if j + 1 >= len(pattern):
                raise ValueError(f"bad glob pattern: {pattern!r} ends with a lone backslash")
            j += 1
            c = pattern[j]
        elif c == "-" and items > 0 and j + 1 < len(pattern) and pattern[j + 1] != "]":
            ranging, j = True, j + 1
            continue
        if c == "/":
            raise ValueError(f"bad glob pattern: {pattern!r}: a '/' cannot be in a [set]")
        if ranging and c < prev:
            raise ValueError(f"bad glob pattern: {pattern!r}: invalid range {prev}-{c}")
        ranging, prev, items, j = False, c, items + 1, j + 1
    if j >= len(pattern):
        raise ValueError(f"bad glob pattern: {pattern!r} has an unclosed '['")
    if items == 0:
        raise ValueError(f"bad glob pattern: {pattern!r} has an empty [set]")
    return j + 1


def expand_braces(pattern: str) -> list:
    """Expands a path pattern's braces into the patterns they stand for (alternatives may
    hold '/'), as the server does before matching; raises ValueError."""
    out: list = []
    _expand(pattern, out)
    return out


def _expand(p: str, out: list) -> None:
    group = _first_group(p)
    if group is None:
        if len(out) >= MAX_GLOB_EXPANSIONS:
            raise ValueError(f"bad glob pattern: braces expand to more than {MAX_GLOB_EXPANSIONS} patterns")
        out.append(p)
        return
    start, end, alts = group
    for a in alts:
        _expand(p[:start] + a + p[end + 1:], out)


def _first_group(p: str):
    open_, depth, start, alts, i = -1, 0, 0, [], 0
    while i < len(p):
        c = p[i]
        if c == "\\":
            i += 1
        elif c == "[" and depth == 0 and open_ < 0:
            k = p.find("]", i + 1)
            if k >= 0:
                i = k
        elif c == "{":
            if depth == 0:
                open_, start = i, i + 1
            depth += 1
        elif c == "," and depth == 1:
            alts.append(p[start:i])
            start = i + 1
        elif c == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                return open_, i, alts + [p[start:i]]
        i += 1
    if depth > 0:
        raise ValueError(f"bad glob pattern: {p!r} has an unclosed '{{'")
    return None


def check_glob_path(pattern: str) -> None:
    """Checks a path glob: its braces expand and every segment compiles; ValueError."""
    for p in expand_braces(pattern):
        for seg in p.split("/"):
            check_glob(seg)


def _check_pipeline(transforms: Any, tensor: Any, model: Any = None) -> None:
    """The structure of ``transforms``, ``tensor`` and ``model`` (docs/transforms.md,
    docs/models.md); stage and model parameters are the server's to check."""
    if transforms is not None:
        if not isinstance(transforms, list):
            raise DescriptorError("transforms", f"must be a list of stages, got {transforms!r}")
        for i, st in enumerate(transforms):
            if not isinstance(st, dict) or not isinstance(st.get("action"), str):
                raise DescriptorError("transforms", f'transforms[{i}]: must be an object with an "action", got {st!r}')
    if tensor is not None and not isinstance(tensor, dict):
        raise DescriptorError("tensor", f"must be an object of tensor parameters, got {tensor!r}")
    if model is not None:
        if not isinstance(model, dict):
            raise DescriptorError("model", f"must be an object of ONNXModel parameters, got {model!r}")
        if tensor is None:
            raise DescriptorError("model", 'needs "tensor" (and transforms fixing the image size): the model is fed the tensor')


_RESUME_SEP = b";skip="
_SKIP_DIGITS = re.compile(rb"0|[1-9][0-9]*")  # as resume_ticket writes it: no sign or leading zeros


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


def _count(raw: Optional[bytes], key: str) -> Optional[int]:
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    n = doc.get(key) if isinstance(doc, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else None


def parse_batch_meta(raw: Optional[bytes]) -> Optional[int]:
    """The resume position (``next``) of a batch's app_metadata; None when absent or not
    a non-negative integer."""
    return _count(raw, "next")


def parse_endpoint_meta(raw: Optional[bytes]) -> Optional[int]:
    """The planned file count (``files``) of an endpoint's app_metadata; None when absent
    (an older coordinator) or not a non-negative integer."""
    return _count(raw, "files")
