"""imageflight.read_images against real server processes."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pyarrow.flight as fl
import pytest

import imageflight
from imageflight import client as C

from corpus import rel_of


def _rels(corpus, table):
    return [rel_of(corpus, o) for o in table.column("image").combine_chunks().field("origin").to_pylist()]


def test_counts_with_and_without_drop(coordinator, corpus):
    expected = corpus.under("images/")
    t = imageflight.read_images(corpus.images, coordinator=coordinator, recursive=True)
    assert sorted(_rels(corpus, t)) == sorted(expected)
    heights = t.column("image").combine_chunks().field("height").to_pylist()
    invalid = sum(h == -1 for h in heights)
    td = imageflight.read_images(corpus.images, coordinator=coordinator, recursive=True,
                                 drop_image_failures=True)
    assert td.num_rows == t.num_rows - invalid
    assert all(h >= 0 for h in td.column("image").combine_chunks().field("height").to_pylist())
    want_invalid = {k for k, e in expected.items() if e.kind in ("invalid", "truncated")}
    assert set(_rels(corpus, t)) - set(_rels(corpus, td)) == want_invalid


def test_recursive(coordinator, corpus):
    flat = imageflight.read_images(corpus.root + "/nested", coordinator=coordinator)
    assert _rels(corpus, flat) == ["nested/a.png"]
    deep = imageflight.read_images(corpus.root + "/nested", coordinator=coordinator, recursive=True)
    assert sorted(_rels(corpus, deep)) == ["nested/a.png", "nested/sub/b.png", "nested/sub/deeper/c.png"]


def test_file_uri_path(coordinator, corpus):
    t = imageflight.read_images("file://" + corpus.root + "/nested", coordinator=coordinator)
    assert _rels(corpus, t) == ["nested/a.png"]


def test_sampling_is_deterministic(coordinator, corpus):
    many = corpus.root + "/many"
    full = set(_rels(corpus, imageflight.read_images(many, coordinator=coordinator)))
    assert len(full) == 200
    a = _rels(corpus, imageflight.read_images(many, coordinator=coordinator, sample_ratio=0.3, seed=7))
    b = _rels(corpus, imageflight.read_images(many, coordinator=coordinator, sample_ratio=0.3, seed=7,
                                              num_partitions=3))
    c = _rels(corpus, imageflight.read_images(many, coordinator=coordinator, sample_ratio=0.3, seed=8))
    assert sorted(a) == sorted(b), "same seed, same sample (whatever the partitioning)"
    assert set(a) <= full and set(c) <= full
    assert 30 <= len(a) <= 90, len(a)  # Binomial(200, 0.3): mean 60, sd 6.5
    assert set(a) != set(c), "another seed gives another sample"
    assert imageflight.read_images(many, coordinator=coordinator, sample_ratio=0.0).num_rows == 0
    assert imageflight.read_images(many, coordinator=coordinator, sample_ratio=1.0).num_rows == 200


def test_num_partitions_gives_that_many_endpoints(coordinator, corpus):
    many = corpus.root + "/many"
    for n in (1, 4, 7):
        plan = C.get_plan(C.build_command(many, num_partitions=n), coordinator)
        assert len(plan.endpoints) == n
        t = C.read_plan(plan, max_workers=3)
        rels = _rels(corpus, t)
        assert len(rels) == 200 and len(set(rels)) == 200
    # Deterministic order: same plan twice gives the same row order.
    t1 = imageflight.read_images(many, coordinator=coordinator, num_partitions=4)
    t2 = imageflight.read_images(many, coordinator=coordinator, num_partitions=4, max_workers=1)
    assert _rels(corpus, t1) == _rels(corpus, t2)


def test_errors(coordinator, corpus, outside_dir):
    with pytest.raises(imageflight.PermissionDenied):
        imageflight.read_images(outside_dir, coordinator=coordinator)
    with pytest.raises(imageflight.PathNotFound):
        imageflight.read_images(corpus.root + "/does-not-exist", coordinator=coordinator)
    # An unknown key is rejected by the server, naming the key.
    cmd = C.build_command(corpus.images)
    cmd["recursve"] = True
    with pytest.raises(imageflight.InvalidArgument, match="recursve"):
        C.get_plan(cmd, coordinator)
    # Out-of-range values are rejected by the server too (not only by this client).
    client = fl.FlightClient(coordinator)
    with pytest.raises(Exception, match="sampleRatio"):
        client.get_flight_info(fl.FlightDescriptor.for_command(
            json.dumps({"path": corpus.images, "sampleRatio": 2}).encode()))


def test_to_numpy_on_real_rows(coordinator, corpus):
    t = imageflight.read_images(corpus.root + "/images/cls=png", coordinator=coordinator)
    rows = {rel_of(corpus, r["image"]["origin"]): r for r in t.to_pylist()}
    e = corpus.files["images/cls=png/rgba8.png"]
    bgra = imageflight.to_numpy(rows[e.rel])
    assert bgra.shape == (20, 30, 4) and bgra.tobytes() == e.data
    rgba = imageflight.to_numpy(rows[e.rel], rgb=True)
    assert np.array_equal(rgba[:, :, :3], bgra[:, :, 2::-1]) and np.array_equal(rgba[:, :, 3], bgra[:, :, 3])
    g = imageflight.to_numpy(rows["images/cls=png/gray8.png"]["image"])
    assert g.shape == (17, 23, 1)
    pdf = t.to_pandas()
    assert imageflight.to_numpy(pdf.iloc[0]).ndim == 3


def test_progress(coordinator, corpus, capsys):
    imageflight.read_images(corpus.root + "/many", coordinator=coordinator, num_partitions=2, progress=True)
    err = capsys.readouterr().err
    assert "2/2" in err and "200" in err


# ------------------------------------------------------------------ multi-process cluster


def test_multi_process_cluster_and_failover(cluster2, corpus):
    many = corpus.root + "/many"
    t = imageflight.read_images(many, coordinator=cluster2.location, num_partitions=4)
    assert len(set(_rels(corpus, t))) == 200
    plan = C.get_plan(C.build_command(many, num_partitions=6), cluster2.location)
    locs = {loc for ep in plan.endpoints for loc in ep.locations}
    assert locs <= set(cluster2.worker_locations), (locs, cluster2.worker_locations)
    assert all(len(ep.locations) >= 2 for ep in plan.endpoints), \
        [ep.locations for ep in plan.endpoints]  # two live workers: every split has an alternate
    # A worker dies after planning: endpoints that prefer it fail over to the other one.
    victim = cluster2.workers[0]
    victim_loc = cluster2.worker_locations[0]
    assert any(ep.locations[0] == victim_loc for ep in plan.endpoints)
    victim.kill(signal.SIGKILL)
    t = C.read_plan(plan, timeout=180)
    rels = _rels(corpus, t)
    assert len(rels) == 200 and len(set(rels)) == 200, cluster2.logs()
