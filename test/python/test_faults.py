"""Fault tests with real processes (issue 4): a coordinator and three worker processes on
127.0.0.1/.2/.3, a corpus big enough that every split is many record batches long
(``coordinator gen-samples --scale 12``; workers with ``--decoders 1 --batch-bytes 200000``),
and a checksum of every row: the multiset of (origin, sha256(data)).

- SIGKILL a worker right after the first batch from it arrived: the read completes, the
  multiset equals a clean read's, and at least one stream was resumed with ``;skip=N``.
- SIGSTOP a worker the same way (hung, not dead): the client's stall watchdog cancels its
  streams after ``stall_timeout`` and resumes them elsewhere; after SIGCONT nothing more
  arrives from it and there are no duplicates.
- SIGKILL the coordinator after GetFlightInfo: the workers still serve the plan.

Measurements (clean read time vs faulty, rows re-sent) go to the terminal summary.
"""

from __future__ import annotations

import collections
import hashlib
import os
import signal
import subprocess
import threading
import time

import pytest

import imageflight
from imageflight import client as C

from conftest import REPORT
from servers import Cluster

WORKER_ARGS = ["--decoders", "1", "--batch-bytes", "200000"]
WORKER_HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
PARTITIONS = 6   # two splits per worker ...
THREADS = 3      # ... read three at a time: later splits start after the fault
# A costly stage (a 31-tap vertical Gaussian, ~10 ms per image) keeps every split's
# worker busy for far longer than its first batch takes to arrive, so a fault on the
# first batch always lands mid-stream: without it the workers finish a split before
# the client has read its first batch, and gRPC's buffers hide the fault.
SLOW = [{"action": "gaussiankernel", "apertureSize": 31, "sigma": 8.0}]


@pytest.fixture(scope="module")
def big_corpus(go_bins, workdir):
    d = os.path.join(workdir, "big")
    res = subprocess.run([go_bins["coordinator"], "gen-samples", "--scale", "12", d],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return d


@pytest.fixture
def cluster3(go_bins, big_corpus):
    try:
        c = Cluster(go_bins, big_corpus, workers=3, worker_args=WORKER_ARGS, worker_hosts=WORKER_HOSTS)
    except RuntimeError as err:
        pytest.fail(f"cluster did not start: {err}", pytrace=False)
    yield c
    for w in c.workers:  # never leave a stopped process behind
        if w.alive():
            try:
                os.killpg(w.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    c.close()


def checksums(table) -> collections.Counter:
    img = table.column("image").combine_chunks()
    return collections.Counter(
        (o, hashlib.sha256(d).hexdigest())
        for o, d in zip(img.field("origin").to_pylist(), img.field("data").to_pylist()))


def plan_of(cluster, corpus_dir):
    plan = C.get_plan(C.build_command(corpus_dir, recursive=True, num_partitions=PARTITIONS,
                                      transforms=SLOW), cluster.location)
    assert len(plan.endpoints) == PARTITIONS
    assert all(len(ep.locations) == 3 for ep in plan.endpoints), [ep.locations for ep in plan.endpoints]
    return plan


def clean_read(cluster, corpus_dir):
    stats = imageflight.ReadStats()
    t0 = time.monotonic()
    t = C.read_plan(plan_of(cluster, corpus_dir), max_workers=THREADS, stats=stats)
    secs = time.monotonic() - t0
    assert stats.resumes == stats.failovers == stats.stalls == 0, stats
    assert stats.batches > 4 * PARTITIONS, f"splits should be many batches long, got {stats.batches}"
    return checksums(t), secs


class FaultOnFirstBatch:
    """on_batch hook: sends `sig` to the victim worker when its first batch arrives, and
    records (time, endpoint, location, rows) of every batch."""

    def __init__(self, cluster, victim_index: int, sig: int):
        self.proc = cluster.workers[victim_index]
        self.location = cluster.worker_locations[victim_index]
        self.sig = sig
        self.lock = threading.Lock()
        self.fired_at = None
        self.log = []

    def __call__(self, endpoint: int, location: str, batch) -> None:
        with self.lock:
            self.log.append((time.monotonic(), endpoint, location, batch.num_rows))
            if location == self.location and self.fired_at is None:
                if self.sig == signal.SIGKILL:
                    self.proc.kill(signal.SIGKILL)  # returns once the process is gone
                else:
                    os.killpg(self.proc.pid, self.sig)
                self.fired_at = time.monotonic()


def victim_of(cluster, plan) -> int:
    """The worker preferred by endpoint 0 (read first, so it is mid-stream at the fault)."""
    return cluster.worker_locations.index(plan.endpoints[0].locations[0])


def test_sigkill_worker_mid_read_resumes_exactly_once(cluster3, big_corpus):
    clean, clean_secs = clean_read(cluster3, big_corpus)
    plan = plan_of(cluster3, big_corpus)
    hook = FaultOnFirstBatch(cluster3, victim_of(cluster3, plan), signal.SIGKILL)
    stats = imageflight.ReadStats()
    t0 = time.monotonic()
    t = C.read_plan(plan, max_workers=THREADS, on_batch=hook, stats=stats, stall_timeout=10)
    secs = time.monotonic() - t0
    assert hook.fired_at is not None and not hook.proc.alive()
    got = checksums(t)
    assert got == clean, (f"missing {sum((clean - got).values())}, extra {sum((got - clean).values())}\n"
                          f"{stats}\n{cluster3.logs()}")
    assert stats.resumes >= 1, f"no stream was resumed mid-way: {stats}"
    assert stats.rows == sum(clean.values())  # every row delivered once: nothing re-sent
    REPORT.append(f"  SIGKILL worker after its first batch: read {secs:.2f} s (clean {clean_secs:.2f} s), "
                  f"{stats.resumes} resumed, {stats.failovers} failed over, 0 rows re-sent, "
                  f"{stats.rows} rows")


def test_sigstop_worker_stall_timeout_then_sigcont_no_duplicates(cluster3, big_corpus):
    clean, clean_secs = clean_read(cluster3, big_corpus)
    plan = plan_of(cluster3, big_corpus)
    hook = FaultOnFirstBatch(cluster3, victim_of(cluster3, plan), signal.SIGSTOP)
    stats = imageflight.ReadStats()
    stall = 5.0  # a hung worker; a healthy one on a loaded machine may pause for seconds
    t0 = time.monotonic()
    t = C.read_plan(plan, max_workers=THREADS, on_batch=hook, stats=stats, stall_timeout=stall)
    secs = time.monotonic() - t0
    assert hook.fired_at is not None
    # The hung worker is noticed either mid-stream (a resume) or before its
    # first batch of another split (a failover), depending on timing.
    assert stats.stalls >= 1 and stats.resumes + stats.failovers >= 1, stats
    n_batches = len(hook.log)
    # Wake the hung worker: its cancelled streams (and any DoGet abandoned while it was
    # stopped) must not deliver anything more.
    os.killpg(hook.proc.pid, signal.SIGCONT)
    time.sleep(1.0)
    assert len(hook.log) == n_batches, "batches arrived after the read had returned"
    got = checksums(t)
    assert got == clean, (f"missing {sum((clean - got).values())}, extra {sum((got - clean).values())}\n"
                          f"{stats}\n{cluster3.logs()}")
    assert max(got.values()) == 1, "duplicates"
    assert stats.rows == sum(clean.values())
    # The woken worker serves again, once gossip has taken it back: memberlist declared it
    # dead while it was stopped, and on a loaded machine rejoining takes a few seconds.
    cluster3.wait_ready(timeout=120)
    again = C.read_plan(plan_of(cluster3, big_corpus), max_workers=THREADS, stall_timeout=10)
    assert checksums(again) == clean
    REPORT.append(f"  SIGSTOP worker after its first batch, stall_timeout {stall} s: read {secs:.2f} s "
                  f"(clean {clean_secs:.2f} s), {stats.stalls} stalls, {stats.resumes} resumed, "
                  f"{stats.failovers} failed over, 0 rows re-sent")


def test_coordinator_killed_after_planning(cluster3, big_corpus):
    clean, _ = clean_read(cluster3, big_corpus)
    plan = plan_of(cluster3, big_corpus)
    cluster3.coordinator.kill(signal.SIGKILL)
    stats = imageflight.ReadStats()
    t = C.read_plan(plan, max_workers=THREADS, stats=stats, stall_timeout=10)
    assert checksums(t) == clean
    assert stats.failovers == stats.resumes == 0, stats
