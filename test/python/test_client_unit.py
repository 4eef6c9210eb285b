"""Client unit tests: argument validation, to_numpy, and the behaviours that need exact
control of the server (fakeflight.py, a test double of our own server): resume ticket
bytes, failure after exactly k batches, resume disabled, gRPC status -> exception mapping,
empty plans, the stall watchdog. Real-process failover/resume: test_faults.py."""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.flight as fl
import pytest

import imageflight
from imageflight import client as C

import fakeflight as F
from imageflight import _shard as S

DEAD = "grpc://127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture
def fake():
    servers = []

    def make(host="127.0.0.1"):
        s = F.FakeServer(host)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.unhang.set()
        s.shutdown()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(path=""), "path"),
        (dict(path=None), "path"),
        (dict(path="/x", sample_ratio=1.5), "sample_ratio"),
        (dict(path="/x", sample_ratio=-0.1), "sample_ratio"),
        (dict(path="/x", sample_ratio="abc"), "sample_ratio"),
        (dict(path="/x", num_partitions=0), "num_partitions"),
        (dict(path="/x", num_partitions=-2), "num_partitions"),
        (dict(path="/x", num_partitions=2.5), "num_partitions"),
        (dict(path="/x", seed="x"), "seed"),
        (dict(path="/x", recursive="maybe"), "recursive"),
        (dict(path="/x", drop_image_failures=3), "drop_image_failures"),
        (dict(path="/x", max_workers=0), "max_workers"),
        (dict(path="/x", timeout=0), "timeout"),
        (dict(path="/x", stall_timeout=0), "stall_timeout"),
        (dict(path="/x", stall_timeout="soon"), "stall_timeout"),
        (dict(path="/x", on_batch=3), "on_batch"),
    ],
)
def test_argument_validation(kwargs, match):
    # Validation happens before any network call: the coordinator address is unreachable.
    with pytest.raises(imageflight.InvalidArgument, match=match):
        imageflight.read_images(coordinator=DEAD, **kwargs)


def test_command_defaults_and_types():
    cmd = C.build_command("/data", recursive="true", num_partitions="4", sample_ratio="0.5", seed="7")
    assert cmd == {"path": "/data", "recursive": True, "numPartitions": 4, "sampleRatio": 0.5,
                   "seed": 7, "dropImageFailures": False}
    assert C.build_command("/d") == {"path": "/d", "recursive": False, "numPartitions": -1,
                                     "sampleRatio": 1.0, "seed": 0, "dropImageFailures": False}


def test_endpoint_order_failover_and_command(fake):
    a, b = fake(), fake()
    a.endpoints = [
        fl.FlightEndpoint(F.ticket(0, 5), [DEAD, a.location]),           # first location dead
        fl.FlightEndpoint(F.ticket(1, 3, fail_before=a.location), [a.location, b.location]),  # a refuses
        fl.FlightEndpoint(F.ticket(2, 4), [b.location]),
        fl.FlightEndpoint(F.ticket(3, 0), [a.location]),                   # empty split
    ]
    t = imageflight.read_images("/data", coordinator=a.location, recursive=True, num_partitions=4,
                                sample_ratio=0.5, seed=9, drop_image_failures=True, max_workers=3)
    origins = t.column("image").combine_chunks().field("origin").to_pylist()
    want = [f"file:/fake/s{s}/{i:04d}.png" for s, n in ((0, 5), (1, 3), (2, 4)) for i in range(n)]
    assert origins == want  # endpoint order, row order inside each endpoint
    assert t.column("cls").to_pylist() == ["s0"] * 5 + ["s1"] * 3 + ["s2"] * 4
    assert a.commands[-1] == {"path": "/data", "recursive": True, "numPartitions": 4,
                              "sampleRatio": 0.5, "seed": 9, "dropImageFailures": True}


def test_resume_mid_stream_on_next_location(fake):
    a, b = fake(), fake()
    tk = F.ticket(0, 6, fail_after=2, fail_loc=a.location)
    a.endpoints = [fl.FlightEndpoint(tk, [a.location, b.location])]
    t = imageflight.read_images("/d", coordinator=a.location)
    origins = t.column("image").combine_chunks().field("origin").to_pylist()
    assert origins == [f"file:/fake/s0/{i:04d}.png" for i in range(6)]  # none lost, none twice
    assert b.tickets_seen == [tk + b";skip=2"]


def test_mid_stream_failure_without_alternate_is_clear(fake):
    a = fake()
    a.endpoints = [fl.FlightEndpoint(F.ticket(0, 6, fail_after=2), [a.location])]
    with pytest.raises(imageflight.StreamInterrupted) as ei:
        imageflight.read_images("/d", coordinator=a.location)
    assert ei.value.rows_received == 2 and ei.value.next_offset == 2
    assert "after 2 rows" in str(ei.value)


def test_mid_stream_failure_with_resume_disabled(fake):
    a, b = fake(), fake()
    ep = C.Endpoint(0, F.ticket(0, 6, fail_after=3), (a.location, b.location))
    with pytest.raises(imageflight.StreamInterrupted, match="cannot resume"):
        list(C.EndpointReader(ep, resume=False))
    assert b.tickets_seen == []


def test_all_locations_dead(fake):
    a = fake()
    a.endpoints = [fl.FlightEndpoint(F.ticket(0, 1), [DEAD, "grpc://127.0.0.1:2"])]
    with pytest.raises(imageflight.Unavailable, match="no location could serve it"):
        imageflight.read_images("/d", coordinator=a.location, timeout=60)


def test_coordinator_unreachable():
    with pytest.raises(imageflight.Unavailable, match="GetFlightInfo"):
        imageflight.read_images("/d", coordinator=DEAD, timeout=60)


def test_error_mapping(fake):
    a = fake()
    with pytest.raises(imageflight.PermissionDenied, match="outside"):
        imageflight.read_images("/forbidden/x", coordinator=a.location)
    with pytest.raises(imageflight.PathNotFound, match="not found"):
        imageflight.read_images("/missing/x", coordinator=a.location)
    with pytest.raises(PermissionError):
        imageflight.read_images("/forbidden/x", coordinator=a.location)
    with pytest.raises(FileNotFoundError):
        imageflight.read_images("/missing/x", coordinator=a.location)


def test_empty_plan_gives_empty_table_with_schema(fake):
    a = fake()
    t = imageflight.read_images("/d", coordinator=a.location)
    assert t.num_rows == 0 and t.schema.equals(F.SCHEMA)


def test_progress_line_without_tqdm(fake, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *a, **k):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    a = fake()
    a.endpoints = [fl.FlightEndpoint(F.ticket(i, 2), [a.location]) for i in range(3)]
    a.total_records = 7  # one file dropped: the line ends at the real count
    imageflight.read_images("/d", coordinator=a.location, progress=True)
    err = capsys.readouterr().err
    assert err.endswith("imageflight: 6/6 images, 3/3 splits, 0.0 MB\n"), err


def test_progress_uses_tqdm_when_installed(fake, monkeypatch):
    import sys
    import types

    bars = []

    class FakeTqdm:
        def __init__(self, total, unit, desc):
            self.total, self.n, self.post, self.closed = total, 0, {}, False
            bars.append(self)

        def update(self, n):
            self.n += n

        def set_postfix(self, post, refresh=True):
            self.post = dict(post)

        def close(self):
            self.closed = True

    mod = types.ModuleType("tqdm.auto")
    mod.tqdm = FakeTqdm
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", mod)
    a = fake()
    a.endpoints = [fl.FlightEndpoint(F.ticket(i, 2), [a.location]) for i in range(3)]
    imageflight.read_images("/d", coordinator=a.location, progress=True)
    (bar,) = bars
    assert (bar.total, bar.n, bar.post["splits"], bar.closed) == (None, 6, "3/3", True)


def test_progress_counts_rows_consumed_not_received(fake, monkeypatch):
    """Issue 17: the bar lagged the rows consumed (it counted splits, and rows as they
    arrived). It must show exactly the rows handed to the caller, out of the plan's count."""
    import sys
    import types

    bars = []

    class FakeTqdm:
        def __init__(self, total, unit, desc):
            self.total, self.n = total, 0
            bars.append(self)

        def update(self, n):
            self.n += n

        def set_postfix(self, post, refresh=True):
            pass

        def close(self):
            pass

    mod = types.ModuleType("tqdm.auto")
    mod.tqdm = FakeTqdm
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", mod)
    a = fake()
    a.total_records = 12
    a.endpoints = [fl.FlightEndpoint(F.ticket(i, 4), [a.location]) for i in range(3)]
    seen = []
    for b in imageflight.iter_batches("/d", coordinator=a.location, progress=True, max_workers=3):
        seen.append(b.num_rows)
        assert bars[0].n == sum(seen), "the bar shows the rows consumed so far"
        time.sleep(0.05)  # readers run ahead meanwhile
    assert (bars[0].total, bars[0].n) == (12, 12)


def test_on_batch_and_stats(fake):
    a, b = fake(), fake()
    tk = F.ticket(0, 5, fail_after=2, fail_loc=a.location)
    a.endpoints = [fl.FlightEndpoint(tk, [a.location, b.location]),
                   fl.FlightEndpoint(F.ticket(1, 1), [DEAD, b.location])]
    seen = []
    stats = imageflight.ReadStats()
    imageflight.read_images("/d", coordinator=a.location, max_workers=1, stats=stats,
                            on_batch=lambda i, loc, batch: seen.append((i, loc, batch.num_rows)))
    assert seen == [(0, a.location, 1)] * 2 + [(0, b.location, 1)] * 3 + [(1, b.location, 1)]
    assert (stats.rows, stats.batches, stats.resumes, stats.failovers, stats.stalls) == (6, 6, 1, 1, 0)
    assert stats.rows_by_location == {a.location: 2, b.location: 4}
    assert [e[:2] for e in stats.errors] == [(0, a.location), (1, DEAD)]


def test_stall_watchdog_resumes_on_next_location(fake):
    """A location that stops sending mid-stream (the fake sleeps) is cancelled after
    stall_timeout and the split resumes on the next one; a location whose DoGet never
    answers is abandoned the same way."""
    a, b = fake(), fake()
    a.stall_after = 2       # rows, then a long sleep on this server
    tk = F.ticket(0, 5)
    ep = C.Endpoint(0, tk, (a.location, b.location))
    stats = imageflight.ReadStats()
    t0 = time.monotonic()
    # stall_timeout well above a healthy stream's pauses on a loaded machine
    # (client and fake servers share this process: at load 17 a's first two
    # rows took over 5 s); the hung server waits until cancelled, so only the
    # watchdog ends the read: the bound below is liveness, not speed.
    rows = sum(x.num_rows for x in C.EndpointReader(ep, stall_timeout=15, stats=stats))
    assert rows == 5 and stats.stalls == 1 and stats.resumes == 1, stats
    assert b.tickets_seen == [tk + b";skip=2"]
    assert time.monotonic() - t0 < 120


# ------------------------------------------------------------------ to_numpy


def _img(h, w, c, data, mode=None):
    return {"origin": "file:/x.png", "height": h, "width": w, "nChannels": c,
            "mode": mode if mode is not None else {1: 0, 3: 16, 4: 24}.get(c, -1), "data": data}


def test_to_numpy_shapes_and_rgb():
    bgr = bytes(range(2 * 3 * 3))
    a = imageflight.to_numpy(_img(2, 3, 3, bgr))
    assert a.shape == (2, 3, 3) and a.dtype == np.uint8 and a.flags.writeable
    assert a[0, 0].tolist() == [0, 1, 2]
    assert imageflight.to_numpy(_img(2, 3, 3, bgr), rgb=True)[0, 0].tolist() == [2, 1, 0]
    bgra = bytes(range(8))
    assert imageflight.to_numpy(_img(1, 2, 4, bgra), rgb=True)[0, 1].tolist() == [6, 5, 4, 7]
    gray = _img(2, 2, 1, b"\x01\x02\x03\x04")
    assert imageflight.to_numpy(gray).shape == (2, 2, 1)
    g = imageflight.to_numpy(gray, rgb=True)  # rgb=True: gray as 3 equal channels
    assert g.shape == (2, 2, 3) and all(g[:, :, k].tolist() == [[1, 2], [3, 4]] for k in range(3))
    g3 = imageflight.to_numpy(gray, channels=3)
    assert np.array_equal(g3, g)
    g4 = imageflight.to_numpy(gray, channels=4)
    assert g4.shape == (2, 2, 4) and g4[:, :, 3].tolist() == [[255, 255], [255, 255]]
    # BGRA -> 3 channels drops alpha; BGR -> 4 adds an opaque one; -> 1 is BT.601 luma.
    assert imageflight.to_numpy(_img(1, 2, 4, bgra), channels=3, rgb=True)[0, 1].tolist() == [6, 5, 4]
    assert imageflight.to_numpy(_img(2, 3, 3, bgr), channels=4)[0, 0].tolist() == [0, 1, 2, 255]
    white = _img(1, 1, 3, b"\xff\xff\xff")
    assert imageflight.to_numpy(white, channels=1).tolist() == [[[255]]]
    with pytest.raises(ValueError, match="channels"):
        imageflight.to_numpy(gray, channels=2)


def test_to_numpy_accepts_row_shapes(fake):
    a = fake()
    a.endpoints = [fl.FlightEndpoint(F.ticket(0, 2), [a.location])]
    t = imageflight.read_images("/d", coordinator=a.location)
    want = np.full((1, 2, 3), 0, np.uint8)
    for form in (t.to_pylist()[0], t.to_pylist()[0]["image"], t.column("image")[0]):
        assert np.array_equal(imageflight.to_numpy(form), want)
    # Tables, batches and columns give every row: stacked when the shapes agree.
    both = np.stack([want, np.full((1, 2, 3), 1, np.uint8)])
    for form in (t, t.combine_chunks().to_batches()[0],
                 t.column("image"), t.column("image").combine_chunks()):
        assert np.array_equal(imageflight.to_numpy(form), both)
    assert imageflight.to_numpy(t.slice(0, 1)).shape == (1, 1, 2, 3)
    listed = imageflight.to_numpy(t, stack=False)
    assert isinstance(listed, list) and len(listed) == 2 and np.array_equal(listed[1], both[1])
    assert imageflight.to_numpy(t.slice(0, 0)) == []
    pdf = t.to_pandas()
    assert np.array_equal(imageflight.to_numpy(pdf.iloc[1]), np.full((1, 2, 3), 1, np.uint8))
    assert np.array_equal(imageflight.to_numpy(pdf.iloc[1]["image"]), np.full((1, 2, 3), 1, np.uint8))


def test_to_numpy_batch_of_mixed_shapes_is_a_list():
    col = pa.array([_img(1, 2, 3, bytes(6)), _img(2, 2, 1, bytes(4))], type=C.IMAGE_STRUCT)
    out = imageflight.to_numpy(col)
    assert isinstance(out, list) and [a.shape for a in out] == [(1, 2, 3), (2, 2, 1)]
    same = imageflight.to_numpy(col, channels=3)  # gray -> 3 channels: still different sizes
    assert [a.shape for a in same] == [(1, 2, 3), (2, 2, 3)]
    col = pa.array([_img(2, 2, 3, bytes(12)), _img(2, 2, 1, bytes(4))], type=C.IMAGE_STRUCT)
    assert imageflight.to_numpy(col, rgb=True).shape == (2, 2, 2, 3)
    bad = pa.array([_img(2, 2, 3, bytes(12)), _img(-1, -1, -1, b"", -1)], type=C.IMAGE_STRUCT)
    with pytest.raises(ValueError, match="x.png"):
        imageflight.to_numpy(bad)


def test_labels_to_indices():
    idx, classes = imageflight.labels_to_indices(pa.chunked_array([["dog", "cat"], [None, "dog", "bird"]]))
    assert classes == ["bird", "cat", "dog"] and idx.tolist() == [2, 1, -1, 2, 0]
    assert idx.dtype == np.int64
    idx, classes = imageflight.labels_to_indices(["b", "a"], classes=["b", "a", "c"])
    assert idx.tolist() == [0, 1] and classes == ["b", "a", "c"]
    with pytest.raises(ValueError, match="zebra"):
        imageflight.labels_to_indices(["zebra"], classes=["a"])
    import pandas as pd
    idx, classes = imageflight.labels_to_indices(pd.Series([2019, 2018, 2019]))
    assert classes == [2018, 2019] and idx.tolist() == [1, 0, 1]


def test_failed_images_reads_the_failure_column_when_present():
    img = pa.array([_img(1, 1, 3, bytes(3)), _img(-1, -1, -1, b"", -1), _img(-1, -1, -1, b"", -1)],
                   type=C.IMAGE_STRUCT)
    plain = pa.RecordBatch.from_arrays([img], names=["image"])
    from imageflight._stats import failed_images
    got = failed_images(plain)
    assert [f.reason for f in got] == [imageflight.REASON_IN_WORKER_LOG] * 2
    withcol = pa.RecordBatch.from_arrays([img, pa.array([None, "truncated JPEG", None])],
                                         names=["image", "failure"])
    got = failed_images(withcol)
    assert [f.reason for f in got] == ["truncated JPEG", imageflight.REASON_IN_WORKER_LOG]
    assert all(f.origin == "file:/x.png" for f in got)


def test_to_numpy_invalid_and_mismatch():
    with pytest.raises(ValueError, match="invalid image"):
        imageflight.to_numpy(_img(-1, -1, -1, b"", -1))
    with pytest.raises(ValueError, match="do not match"):
        imageflight.to_numpy(_img(2, 2, 3, b"\x00" * 5))
    with pytest.raises(TypeError):
        imageflight.to_numpy(42)


def test_stall_watchdog_abandons_do_get_without_schema(fake):
    a, b = fake(), fake()
    a.hang_before_schema = 600  # far past the bound below: abandoned, not waited for (teardown releases it)
    ep = C.Endpoint(0, F.ticket(0, 3), (a.location, b.location))
    stats = imageflight.ReadStats()
    t0 = time.monotonic()
    rows = sum(x.num_rows for x in C.EndpointReader(ep, stall_timeout=15, stats=stats))
    assert rows == 3 and stats.stalls == 1 and stats.failovers == 1 and stats.resumes == 0, stats
    assert time.monotonic() - t0 < 300, "did not abandon the hung DoGet"
    assert "no schema within" in stats.errors[0][2]


# ------------------------------------------------------------------ sharding (torch-free)


def test_sharding_rule_every_endpoint_once():
    for n in (1, 5, 16):
        for shards in (1, 2, 3, 4, 8):
            for seed in (None, 0, 7):
                for epoch in (0, 1):
                    got = [i for s in range(shards) for i in S.shard_endpoints(n, s, shards, seed, epoch)]
                    assert sorted(got) == list(range(n))
    assert S.shard_endpoints(16, 0, 2, 7, 0) != S.shard_endpoints(16, 0, 2, 7, 1), "epoch reshuffles"
    assert S.shard_endpoints(16, 0, 2, 7, 0) != S.shard_endpoints(16, 0, 2, 8, 0), "seed reshuffles"
    with pytest.raises(imageflight.InvalidArgument):
        S.shard_endpoints(4, 2, 2, None, 0)


def test_to_numpy_invalid_none_keeps_alignment():
    col = pa.array([_img(1, 2, 3, bytes(6)), _img(-1, -1, -1, b"", -1)], type=C.IMAGE_STRUCT)
    out = imageflight.to_numpy(col, invalid="none")
    assert isinstance(out, list) and out[0].shape == (1, 2, 3) and out[1] is None
    with pytest.raises(ValueError, match="invalid"):
        imageflight.to_numpy(col, invalid="skip")


@pytest.mark.parametrize("files, shards, share", [
    ([6, 6, 6, 6], 2, 12),
    ([5, 5, 5, 5, 4], 2, 9),    # a shard may hold only two endpoints: the two smallest
    ([3, 9, 1], 3, 1),
    ([4, 4], 3, 0),             # fewer endpoints than shards: someone reads nothing
    ([], 1, 0),
])
def test_equal_share(files, shards, share):
    assert S.equal_share(files, shards) == share
    # Every dealing of the endpoints gives every shard at least the share.
    for seed in range(20):
        for shard in range(shards):
            mine = S.shard_endpoints(len(files), shard, shards, seed, 0)
            assert sum(files[i] for i in mine) >= share
