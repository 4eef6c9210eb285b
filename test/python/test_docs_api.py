"""clients/python/README.md's signatures and Spark option list, checked against the code
(issue 17: they lagged it -- transforms, tensor, fast_resize, the selection keywords and
most Spark options were missing). A keyword added to the code and not to the README, or
documented and not accepted, fails here."""

from __future__ import annotations

import ast
import inspect
import os
import re

import pytest

import imageflight
from imageflight._options import SELECTION_KEYS

README = os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python", "README.md")


def _readme() -> str:
    with open(README, encoding="utf-8") as f:
        return f.read()


def _documented_signature(name: str) -> inspect.Signature:
    """The README's ``- `name(...)``` bullet, parsed as a Python signature."""
    m = re.search(rf"^- `{name}\((.*?)\)`", _readme(), flags=re.S | re.M)
    assert m, f"clients/python/README.md documents no `{name}(...)` signature"
    args = " ".join(m.group(1).split())
    fn = ast.parse(f"def {name}({args}): pass").body[0]
    ns: dict = {}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), README, "exec"), ns)  # noqa: S102
    return inspect.signature(ns[name])


def _targets():
    from imageflight.torch import ImageFlightDataset  # noqa: F401 - torch is optional

    return {"read_images": imageflight.read_images, "iter_batches": imageflight.iter_batches,
            "ImageFlightDataset": ImageFlightDataset}


@pytest.mark.parametrize("name", ["read_images", "iter_batches", "ImageFlightDataset"])
def test_readme_signature_is_the_code_signature(name):
    if name == "ImageFlightDataset":
        pytest.importorskip("torch", reason="torch not installed (IMAGEFLIGHT_TEST_TORCH=1 test/python/setup.sh)")
    code = inspect.signature(_targets()[name])
    doc = _documented_signature(name)

    def shape(sig):
        return [(p.name, p.kind, p.default) for p in sig.parameters.values()]

    assert shape(doc) == shape(code), f"README `{name}(...)` differs from the code"


def test_readme_names_every_selection_keyword():
    text = _readme()
    missing = [k for k in SELECTION_KEYS if f"`{k}`" not in text]
    assert not missing, f"selection keywords missing from clients/python/README.md: {missing}"


def test_readme_spark_options_are_the_accepted_options():
    pytest.importorskip("pyspark")
    import imageflight.spark as S

    m = re.search(r"^- Options \(case-insensitive\):(.*?)(?=^- )", _readme(), flags=re.S | re.M)
    assert m, "clients/python/README.md has no Spark options bullet"
    documented = set(re.findall(r"`([A-Za-z]+)`", m.group(1)))
    accepted = {canonical for canonical, _ in S._OPTIONS.values()} - {"path", "paths"}
    aliases = {key for key, (canonical, _) in S._OPTIONS.items() if key != canonical.lower()}
    assert accepted <= documented, f"accepted, not documented: {sorted(accepted - documented)}"
    known = {o.lower() for o in accepted} | aliases | {"off", "false"}
    assert {d.lower() for d in documented} <= known, \
        f"documented, not accepted: {sorted(d for d in documented if d.lower() not in known)}"
    assert set(S._SUPPORTED.split(", ")) == accepted, "the unknown-option message lists every option"
