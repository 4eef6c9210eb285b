"""Fixtures: the Go binaries (built once), a generated corpus, real server processes on
loopback, one SparkSession per test session.

If the Go binaries do not build, every test that needs a server FAILS (never skips) with
the compiler output.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from corpus import write_corpus  # noqa: E402
from servers import BuildError, Cluster, build_binaries  # noqa: E402

# Lines for the terminal summary (per-file JPEG PSNR etc.), filled by the oracle tests.
REPORT: list = []


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="imageflight-pytest-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def go_bins(workdir):
    bindir = os.path.join(workdir, "bin")
    os.makedirs(bindir)
    try:
        return build_binaries(bindir)
    except BuildError as err:
        pytest.fail(f"cannot build the Go servers: {err}", pytrace=False)


@pytest.fixture(scope="session")
def corpus(workdir):
    return write_corpus(os.path.join(workdir, "data"))


@pytest.fixture(scope="session")
def outside_dir(workdir):
    """A folder with an image that is NOT under the servers' --root."""
    d = os.path.join(workdir, "outside")
    os.makedirs(d)
    shutil.copy(os.path.join(os.path.dirname(__file__), "corpus.py"), os.path.join(d, "not-an-image.png"))
    return d


@pytest.fixture(scope="session")
def standalone(go_bins, corpus):
    """coordinator --standalone (in-process worker) rooted at the corpus."""
    c = _start(go_bins, corpus, 0, "standalone server")
    yield c
    c.close()


@pytest.fixture(scope="session")
def coordinator(standalone):
    return standalone.location


@pytest.fixture
def cluster2(go_bins, corpus):
    """Coordinator + two worker processes on 127.0.0.2 and 127.0.0.3 (fresh per test:
    fault tests kill workers)."""
    c = _start(go_bins, corpus, 2, "cluster")
    yield c
    c.close()


def _start(go_bins, corpus, workers: int, what: str) -> Cluster:
    """Starts a Cluster over the corpus; a start failure fails the test (never skips)."""
    try:
        return Cluster(go_bins, corpus.root, workers=workers)
    except RuntimeError as err:
        pytest.fail(f"{what} did not start: {err}", pytrace=False)


@pytest.fixture(scope="session")
def spark():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    import imageflight.spark

    s = (
        SparkSession.builder.master("local[2]")
        .appName("imageflight-tests")
        .config("spark.driver.memory", "1g")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    imageflight.spark.register(s)
    yield s
    s.stop()


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("imageflight: Spark oracle and fault measurements, console screenshots")
        for line in dict.fromkeys(REPORT):  # unique, in order
            terminalreporter.write_line(line)
