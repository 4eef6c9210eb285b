"""grpc+unix:// locations (issue 23): workers started with ``--unix-socket-dir`` also serve
DoGet on a Unix socket and the coordinator lists it after their TCP location. On the
workers' host the Python client reads through the socket; plain pyarrow can too; a socket
nobody serves any more costs one failover to TCP, every row still arrives once.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile

import pyarrow.flight as flight
import pytest

import imageflight
from imageflight._plan import Endpoint
from imageflight._stream import read_endpoint
from servers import Cluster

OPTIONS = [("grpc.max_receive_message_length", -1)]


@pytest.fixture(scope="module")
def unix_cluster(go_bins, corpus):
    run = tempfile.mkdtemp(prefix="imageflight-run-")  # 0700: the workers create run/ in it
    try:
        c = Cluster(go_bins, corpus.root, workers=2,
                    worker_args=["--unix-socket-dir", os.path.join(run, "run")])
    except RuntimeError as err:
        pytest.fail(f"cluster did not start: {err}", pytrace=False)
    c.run_dir = os.path.join(run, "run")
    yield c
    c.close()
    shutil.rmtree(run, ignore_errors=True)


def test_sockets_advertised_after_tcp(unix_cluster):
    sockets = {f"grpc+unix://{unix_cluster.run_dir}/w{i}.sock" for i in (1, 2)}
    for path in (s[len("grpc+unix://"):] for s in sockets):
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660, (path, oct(mode))
    assert stat.S_IMODE(os.stat(unix_cluster.run_dir).st_mode) == 0o750
    plan = imageflight.get_plan(unix_cluster.root, coordinator=unix_cluster.location,
                                recursive=True, num_partitions=4)
    for ep in plan.endpoints:
        tcp = [loc for loc in ep.locations if loc.startswith("grpc://")]
        unix = [loc for loc in ep.locations if loc.startswith("grpc+unix://")]
        assert tcp and len(unix) == len(tcp) and set(unix) <= sockets, ep.locations
        assert list(ep.locations) == tcp + unix, "network locations first, sockets after"


def test_python_client_reads_through_the_socket(unix_cluster, corpus):
    stats = imageflight.ReadStats()
    t = imageflight.read_images(corpus.images, coordinator=unix_cluster.location, recursive=True,
                                num_partitions=4, stats=stats)
    tcp = imageflight.read_images(corpus.images, coordinator=unix_cluster.location, recursive=True,
                                  num_partitions=4)
    # corpus.images: other tests of the session add files elsewhere under corpus.root.
    assert t.num_rows == len(corpus.under("images/")) > 0
    assert t.equals(tcp)
    assert stats.rows_by_location and all(loc.startswith("grpc+unix://") for loc in stats.rows_by_location), \
        stats.rows_by_location
    assert stats.failovers == 0


def test_plain_pyarrow_reads_a_unix_location(unix_cluster):
    client = flight.connect(unix_cluster.location, generic_options=OPTIONS)
    cmd = f'{{"path": "{unix_cluster.root}", "recursive": true, "numPartitions": 2}}'.encode()
    info = client.get_flight_info(flight.FlightDescriptor.for_command(cmd))
    for ep in info.endpoints:
        uris = [loc.uri.decode() for loc in ep.locations]
        unix = flight.connect(next(u for u in uris if u.startswith("grpc+unix://")), generic_options=OPTIONS)
        tcp = flight.connect(uris[0], generic_options=OPTIONS)
        assert unix.do_get(ep.ticket).read_all().equals(tcp.do_get(ep.ticket).read_all())
        unix.close()
        tcp.close()
    client.close()


def test_dead_socket_fails_over_to_tcp(unix_cluster, corpus, tmp_path):
    dead = str(tmp_path / "dead.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(dead)  # a socket file nobody listens on, as a killed worker leaves it
    s.close()
    plan = imageflight.get_plan(corpus.images, coordinator=unix_cluster.location, recursive=True)
    stats = imageflight.ReadStats()
    rows = 0
    for ep in plan.endpoints:
        tcp = tuple(loc for loc in ep.locations if loc.startswith("grpc://"))
        moved = Endpoint(index=ep.index, ticket=ep.ticket, locations=tcp + ("grpc+unix://" + dead,),
                         files=ep.files)
        for batch in read_endpoint(moved, stats=stats):
            rows += batch.num_rows
    assert rows == len(corpus.under("images/")) > 0
    assert stats.failovers == len(plan.endpoints)
    assert set(stats.rows_by_location) <= {loc for ep in plan.endpoints for loc in ep.locations
                                           if loc.startswith("grpc://")}
