"""`pip install ./clients/python` works (the README promises it): the package builds into a
wheel holding every module, with the right metadata, and that wheel installs and imports
on its own (not through the test venv's editable install)."""

from __future__ import annotations

import email.parser
import glob
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PKG = os.path.join(REPO, "clients", "python")


def _setuptools_ok() -> bool:
    """The venv's setuptools can build without isolation (pyproject wants >= 77: PEP 639)."""
    try:
        import setuptools
    except ImportError:
        return False
    m = re.match(r"(\d+)", setuptools.__version__)
    return bool(m) and int(m.group(1)) >= 77


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    # Build from a copy: an in-tree build writes build/ and *.egg-info into clients/python,
    # and a stale build/lib could leak removed modules into the wheel.
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(PKG, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
           "-q", "-w", str(tmp / "dist"), str(src)]
    if _setuptools_ok():
        cmd.insert(4, "--no-build-isolation")  # offline
    # else pip fetches setuptools>=77 into an isolated build env (PyPI or pip's cache)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout}{res.stderr}"
    wheels = glob.glob(str(tmp / "dist" / "imageflight-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_has_every_module(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {f"imageflight/{os.path.basename(p)}"
            for p in glob.glob(os.path.join(PKG, "imageflight", "*.py"))}
    assert {"imageflight/__init__.py", "imageflight/client.py", "imageflight/spark.py",
            "imageflight/_plan.py", "imageflight/_stream.py"} <= want
    assert any(n.startswith("imageflight/_") for n in want)
    assert want <= names, f"missing from the wheel: {sorted(want - names)}"
    assert not [n for n in names if n.endswith((".pyc", ".egg-info")) or "/tests/" in n]


def test_wheel_metadata(wheel):
    z = zipfile.ZipFile(wheel)
    meta_name = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
    assert len(meta_name) == 1
    meta = email.parser.Parser().parsestr(z.read(meta_name[0]).decode("utf-8"))
    assert meta["Name"] == "imageflight"
    reqs = meta.get_all("Requires-Dist") or []
    base = [r for r in reqs if "extra ==" not in r]
    assert [re.split(r"[ <>=!~;\[]", r, maxsplit=1)[0] for r in base] == ["pyarrow"], base
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"pandas", "numpy", "spark", "torch"} <= extras, extras
    assert any(r.startswith("pandas") and "<3" in r and 'extra == "spark"' in r for r in reqs), reqs
    for extra, dist in (("pandas", "pandas"), ("numpy", "numpy"), ("spark", "pyspark"),
                        ("torch", "torch")):
        assert any(r.startswith(dist) and f'extra == "{extra}"' in r for r in reqs), (extra, reqs)


def test_wheel_installs_and_imports(wheel, tmp_path):
    target = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                          "--disable-pip-version-check", "--target", str(target), wheel],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    # PYTHONPATH comes before the venv's editable install; pyarrow/pyspark from the venv.
    code = ("import imageflight, imageflight.client, imageflight.spark, sys; "
            "print(imageflight.__file__); print(imageflight.__version__)")
    env = dict(os.environ, PYTHONPATH=str(target))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=env, cwd=str(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    file, version = res.stdout.split()
    assert file.startswith(str(target)), file
    assert version == os.path.basename(wheel).split("-")[1]  # __version__ == pyproject's


def test_core_import_needs_no_extra_and_submodules_load_lazily():
    """``import imageflight`` loads neither torch, pyspark nor pandas; the README's
    ``import imageflight`` then ``imageflight.spark.register(spark)`` works."""
    code = ("import sys, imageflight\n"
            "heavy = [m for m in ('torch', 'pyspark', 'pandas') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert callable(imageflight.spark.register)\n"
            "assert 'pyspark' in sys.modules\n"
            "assert 'spark' in dir(imageflight) and 'torch' in dir(imageflight)\n"
            "assert callable(imageflight.get_plan) and imageflight.Plan\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def _package_imports():
    """module -> the package's modules it imports (relative imports anywhere in the file,
    the lazy ones in functions included)."""
    import ast

    src = os.path.join(PKG, "imageflight")
    mods = {f[:-3] for f in os.listdir(src) if f.endswith(".py")}
    graph = {}
    for m in mods:
        with open(os.path.join(src, m + ".py")) as f:
            tree = ast.parse(f.read())
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(a.name for a in node.names if a.name in mods)
        graph[m] = deps & mods - {m}
    return graph


def test_no_import_cycle_between_modules():
    """No module of the package imports (even lazily) one that imports it back, directly
    or through others (issue 19.3: _connections <-> _forkproxy); ``__init__`` aside, which
    re-exports and loads submodules on attribute access."""
    graph = {m: d - {"__init__"} for m, d in _package_imports().items() if m != "__init__"}
    cycles = []

    def walk(m, path):
        for d in sorted(graph.get(m, ())):
            if d == path[0]:
                cycles.append(" -> ".join(path + [d]))
            elif d not in path and len(path) < len(graph):
                walk(d, path + [d])

    for m in sorted(graph):
        walk(m, [m])
    assert cycles == [], cycles
