"""PlanExpired: the server's FAILED_PRECONDITION ("call GetFlightInfo again") from DoGet.

The Go server answers FAILED_PRECONDITION when a ticket can no longer be served:
- a worker gets an expired ticket ("ticket expired at ...; call GetFlightInfo again");
- a ticket of a large plan (file lists left on the coordinator, forced here with
  ``--max-flightinfo-bytes 1``) whose plan the coordinator no longer holds -- it restarted
  ("plan X is no longer held by this coordinator ...; call GetFlightInfo again").

pyarrow (26.0.1) maps FAILED_PRECONDITION to ArrowInvalid, the same class as
INVALID_ARGUMENT; the first test pins that down with the real server, the client tells the
two apart by the code pyarrow spells out in the message.

Real processes: a coordinator with ``--max-flightinfo-bytes 1`` and one worker (fresh per
test: the tests SIGKILL and restart the coordinator on the same address).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import socket
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

import imageflight
from imageflight import client as C
from imageflight._errors import _is_plan_expired, _translate

from servers import Cluster

SECRET = b"plan-expired-test-secret-0123456789"

# What pyarrow 26.0.1 raised against the Go server (see test_pyarrow_maps_failed_precondition).
FP_MESSAGE = (
    "gRPC returned precondition failed error, with message: fetch split from coordinator "
    "grpc://127.0.0.1:37323: plan e52f72f6ca6d is no longer held by this coordinator "
    "(restarted, or evicted by newer plans); call GetFlightInfo again. gRPC client debug "
    "context: FAILED_PRECONDITION:fetch split from coordinator grpc://127.0.0.1:37323: plan "
    "e52f72f6ca6d is no longer held by this coordinator (restarted, or evicted by newer "
    "plans); call GetFlightInfo again. Client context: IOError: Server never sent a data "
    "message. Detail: Internal")
IA_MESSAGE = (
    "Flight returned invalid argument error, with message: malformed ticket. gRPC client "
    "debug context: INVALID_ARGUMENT:malformed ticket. Client context: IOError: Server never "
    "sent a data message. Detail: Internal")


@pytest.fixture
def big_plan_cluster(go_bins, corpus):
    """Coordinator that leaves every plan's file lists on itself (tickets by reference),
    plus one worker on 127.0.0.2."""
    try:
        c = Cluster(go_bins, corpus.root, workers=1, secret=SECRET,
                    coordinator_args=["--max-flightinfo-bytes", "1"])
    except RuntimeError as err:
        pytest.fail(f"cluster did not start: {err}", pytrace=False)
    yield c
    c.close()


def _plan(cluster, corpus, partitions=2):
    plan = C.get_plan(C.build_command(corpus.images, recursive=True, num_partitions=partitions),
                      cluster.location)
    assert len(plan.endpoints) == partitions
    for ep in plan.endpoints:
        assert ep.locations == (cluster.worker_locations[0],), ep.locations
        payload = _ticket_payload(ep.ticket)
        assert payload.get("coord") and not payload.get("files"), (
            f"--max-flightinfo-bytes 1 should give tickets by reference, got {payload}")
    return plan


def _wait_listening(location: str, proc, timeout: float = 180.0) -> None:
    host, port = location.split("://", 1)[1].rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while True:
        assert proc.alive(), proc.log_tail()
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"{location} not listening:\n{proc.log_tail()}"
            time.sleep(0.05)


def _uvarint(b: bytes):
    n = shift = 0
    for i, c in enumerate(b):
        n |= (c & 0x7F) << shift
        if c < 0x80:
            return n, i + 1
        shift += 7
    raise ValueError("truncated uvarint")


def _split_ticket(wire: bytes):
    """(header dict, packed list) of a ticket (docs/protocol.md, "Tickets")."""
    payload, _sig = wire.split(b";skip=")[0].rsplit(b".", 1)
    raw = base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4))
    n, w = _uvarint(raw)
    return json.loads(raw[w:w + n]), raw[w + n:]


def _ticket_payload(wire: bytes) -> dict:
    header, packed = _split_ticket(wire)
    if packed:
        header["files"] = json.loads(gzip.decompress(packed))["files"]
    return header


def _resign(wire: bytes, **changes) -> bytes:
    """The ticket with header fields changed, signed with the cluster secret
    (docs/protocol.md: base64url(uvarint(len(header)) header list) "." base64url(HMAC-SHA256)),
    no padding)."""
    header, packed = _split_ticket(wire)
    header.update(changes)
    js = json.dumps(header).encode()
    n, prefix = len(js), b""
    while True:
        prefix += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if not n:
            break
    payload = base64.urlsafe_b64encode(prefix + js + packed).rstrip(b"=")
    sig = hmac.new(SECRET, payload, hashlib.sha256).digest()
    return payload + b"." + base64.urlsafe_b64encode(sig).rstrip(b"=")


# ----------------------------------------------------------------- classification (no server)

def test_classification_of_pyarrow_messages():
    assert _is_plan_expired(pa.ArrowInvalid(FP_MESSAGE))
    assert not _is_plan_expired(pa.ArrowInvalid(IA_MESSAGE))
    # The server's marker inside another code's message (e.g. an echoed path) is not enough.
    assert not _is_plan_expired(pa.ArrowInvalid(IA_MESSAGE.replace(
        "malformed ticket", "bad path /x/call GetFlightInfo again")))
    assert not _is_plan_expired(pa.ArrowKeyError(
        "gRPC returned not found error, with message: /call GetFlightInfo again"))
    # A pyarrow that maps the code to another class, with the code in the debug context ...
    assert _is_plan_expired(flight.FlightServerError(
        "Flight RPC failed. gRPC client debug context: FAILED_PRECONDITION:ticket expired"))
    # ... or naming no code at all: the server's marker is the last resort.
    assert _is_plan_expired(flight.FlightServerError(
        "ticket expired at 2020-01-01T00:00:00Z; call GetFlightInfo again"))
    assert not _is_plan_expired(flight.FlightServerError("some other failure"))
    assert not _is_plan_expired(imageflight.InvalidArgument("call GetFlightInfo again"))
    assert issubclass(imageflight.PlanExpired, imageflight.ImageFlightError)
    assert "PlanExpired" in imageflight.__all__
    # Elsewhere than DoGet (GetFlightInfo) it is a plain ImageFlightError, not InvalidArgument.
    err = _translate(pa.ArrowInvalid(FP_MESSAGE), "GetFlightInfo")
    assert type(err) is imageflight.ImageFlightError
    assert type(_translate(pa.ArrowInvalid(IA_MESSAGE), "x")) is imageflight.InvalidArgument


# ----------------------------------------------------------------- real processes

def test_pyarrow_maps_failed_precondition(big_plan_cluster, corpus):
    """Raw pyarrow against the Go server: FAILED_PRECONDITION arrives as ArrowInvalid."""
    plan = _plan(big_plan_cluster, corpus)
    big_plan_cluster.restart_coordinator()
    ep = plan.endpoints[0]
    fc = flight.FlightClient(ep.locations[0])
    try:
        with pytest.raises(pa.ArrowInvalid) as info:
            fc.do_get(flight.Ticket(ep.ticket)).read_all()
        text = str(info.value)
        assert text.startswith("gRPC returned precondition failed error"), text
        assert "FAILED_PRECONDITION:" in text and "call GetFlightInfo again" in text, text
        assert not isinstance(info.value, flight.FlightError)
        assert _is_plan_expired(info.value)
        with pytest.raises(pa.ArrowInvalid) as bad:
            fc.do_get(flight.Ticket(b"garbage")).read_all()
        assert "INVALID_ARGUMENT:" in str(bad.value), str(bad.value)
        assert not _is_plan_expired(bad.value)
    finally:
        fc.close()


def test_plan_gone_after_coordinator_restart(big_plan_cluster, corpus):
    """Plan, SIGKILL + restart the coordinator on the same address: the worker cannot get
    the split's files any more -> PlanExpired, from the first location only."""
    cl = big_plan_cluster
    baseline = C.read_images(corpus.images, coordinator=cl.location, recursive=True).num_rows
    plan = _plan(cl, corpus)
    cl.restart_coordinator()

    ep = plan.endpoints[0]
    # The same location twice: a retry would show up as a second attempt.
    twice = C.Endpoint(ep.index, ep.ticket, (ep.locations[0], ep.locations[0]))
    reader = C.EndpointReader(twice, stall_timeout=30)
    with pytest.raises(imageflight.PlanExpired) as info:
        list(reader)
    err = info.value
    assert len(reader.errors) == 1, reader.errors  # not tried on the other location
    assert reader.failovers == 0 and reader.resumed == 0
    assert err.rows_received == 0
    assert "no longer held by this coordinator" in str(err), str(err)
    assert "plan again" in str(err) and "read_images()" in str(err) and "load()" in str(err)
    assert "gRPC client debug context" not in str(err)
    assert "no longer held" in err.reason
    assert not isinstance(err, imageflight.InvalidArgument)

    with pytest.raises(imageflight.PlanExpired):
        list(C.read_endpoint(ep))
    stats = C.ReadStats()
    with pytest.raises(imageflight.PlanExpired):
        C.read_plan(plan, stats=stats)
    assert stats.failovers == 0 and stats.resumes == 0

    # Planning again on the restarted coordinator works (once the worker is back in its view).
    cl.wait_ready(timeout=180)
    fresh = C.read_images(corpus.images, coordinator=cl.location, recursive=True, num_partitions=2)
    assert fresh.num_rows == baseline > 0


def test_cached_split_on_one_worker_fresh_worker_refuses(big_plan_cluster, corpus):
    """A worker that fetched a split before the restart still serves it (its split cache);
    a worker started after the restart cannot, and says plan again."""
    cl = big_plan_cluster
    plan = _plan(cl, corpus, partitions=1)
    ep = plan.endpoints[0]
    before = pa.Table.from_batches(list(C.read_endpoint(ep)))
    assert before.num_rows > 0
    cl.restart_coordinator()
    cl.add_worker(2)
    _wait_listening(cl.worker_locations[1], cl.workers[1])
    again = pa.Table.from_batches(list(C.read_endpoint(ep)))
    assert again.equals(before)
    fresh_worker = C.Endpoint(ep.index, ep.ticket, (cl.worker_locations[1], ep.locations[0]))
    reader = C.EndpointReader(fresh_worker, stall_timeout=30)
    with pytest.raises(imageflight.PlanExpired, match="no longer held"):
        list(reader)
    # The cached copy on the second location would have served it, but the answer means
    # "plan again", so no other location is tried.
    assert [loc for loc, _ in reader.errors] == [cl.worker_locations[1]]


def test_expired_ticket(big_plan_cluster, corpus):
    """A ticket past its expiry (re-signed with the cluster secret, exp in the past)."""
    cl = big_plan_cluster
    plan = _plan(cl, corpus, partitions=1)
    ep = plan.endpoints[0]
    stale = _resign(ep.ticket, exp=int(time.time()) - 60)
    expired = C.Endpoint(ep.index, stale, ep.locations + ep.locations)
    reader = C.EndpointReader(expired, stall_timeout=30)
    with pytest.raises(imageflight.PlanExpired, match="ticket expired") as info:
        list(reader)
    assert len(reader.errors) == 1
    assert "plan again" in str(info.value)
    # Control: the same re-signing with a future expiry is served (the forgery is sound).
    ok = C.Endpoint(ep.index, _resign(ep.ticket, exp=int(time.time()) + 600), ep.locations)
    assert sum(b.num_rows for b in C.read_endpoint(ok)) > 0
    # An expired ticket with a resume suffix is refused the same way.
    with pytest.raises(imageflight.PlanExpired, match="ticket expired"):
        list(C.read_endpoint(C.Endpoint(ep.index, stale + b";skip=1", ep.locations)))


def test_spark_dataframe_after_coordinator_restart(spark, big_plan_cluster, corpus):
    """load() plans (and the first query reuses that plan); after a coordinator restart the
    query fails with PlanExpired telling to call load() again."""
    cl = big_plan_cluster
    reader = (spark.read.format("imageflight").option("coordinator", cl.location)
              .option("recursive", "true").option("numPartitions", "2"))
    df = reader.load(corpus.images)
    cl.restart_coordinator()
    with pytest.raises(Exception) as info:
        df.collect()
    text = str(info.value)
    assert "PlanExpired" in text, text[-3000:]
    assert "no longer held by this coordinator" in text
    assert "spark.read.format('imageflight')...load(" in text
    # (Planning again after the restart is checked in test_plan_gone_after_coordinator_restart.)
