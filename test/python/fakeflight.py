"""A test double of OUR OWN imageflight server (the Go coordinator and worker, pkg/planner and
pkg/pipeline), for the Python client's unit tests: an in-process pyarrow Flight server speaking
the same contract (JSON command, endpoints with several locations, ``{"next": N}`` app_metadata,
``<ticket>;skip=N`` resume tickets) with synthetic rows. It stands in for no third-party
system.

Used only where the real servers cannot be made to behave exactly as needed on demand: the
exact ticket bytes of a resume, a failure after exactly k batches, a location that refuses
one ticket, gRPC status -> exception mapping, resume disabled, an empty plan. Real failover
and resume (SIGKILL/SIGSTOP of worker processes) are tested in test_faults.py, real
decoding everywhere else.

Tickets are JSON: {"split": i, "rows": n, "fail_before": true|location, "fail_after": k,
"fail_loc": location}, optionally followed by ";skip=N". Each batch holds one row and
carries app_metadata {"next": position after it}.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Dict, List, Optional

import pyarrow as pa
import pyarrow.flight as flight

from imageflight.client import IMAGE_STRUCT

SCHEMA = pa.schema([pa.field("image", IMAGE_STRUCT, nullable=True), pa.field("cls", pa.utf8())])


def row_batch(split: int, i: int, data_len: int = 6) -> pa.RecordBatch:
    h, w, c = 1, max(data_len // 3, 1), 3
    data = bytes([(split * 31 + i) % 256]) * (h * w * c)
    img = pa.StructArray.from_arrays(
        [pa.array([f"file:/fake/s{split}/{i:04d}.png"]), pa.array([h], pa.int32()),
         pa.array([w], pa.int32()), pa.array([c], pa.int32()), pa.array([16], pa.int32()),
         pa.array([data], pa.binary())],
        fields=list(IMAGE_STRUCT),
    )
    return pa.RecordBatch.from_arrays([img, pa.array([f"s{split}"])], schema=SCHEMA)


class FakeServer(flight.FlightServerBase):
    def __init__(self, host: str = "127.0.0.1"):
        super().__init__(f"grpc://{host}:0")
        self.location = f"grpc://{host}:{self.port}"
        self.endpoints: List[flight.FlightEndpoint] = []
        self.commands: List[dict] = []
        self.tickets_seen: List[bytes] = []
        self.lock = threading.Lock()
        self.row_bytes = 6
        self.total_records = -1                 # FlightInfo.total_records (the file count)
        self.stall_after: Optional[int] = None  # rows sent, then silence until cancelled
        self.hang_before_schema = 0.0           # seconds DoGet waits before answering
        self.unhang = threading.Event()         # set: a hanging DoGet answers now (test teardown)

    def get_flight_info(self, context, descriptor):
        cmd = json.loads(descriptor.command)
        with self.lock:
            self.commands.append(cmd)
        for k in cmd:
            if k not in {"path", "recursive", "numPartitions", "sampleRatio", "seed", "dropImageFailures"}:
                raise pa.ArrowInvalid(f"unknown key {k!r}")
        if cmd["path"].startswith("/forbidden"):
            raise flight.FlightUnauthorizedError(f"path {cmd['path']} is outside the server's roots")
        if cmd["path"].startswith("/missing"):
            raise pa.ArrowKeyError(f"path {cmd['path']} not found")
        return flight.FlightInfo(SCHEMA, descriptor, self.endpoints, self.total_records, -1)

    def do_get(self, context, ticket):
        raw = ticket.ticket
        with self.lock:
            self.tickets_seen.append(raw)
        skip = 0
        if b";skip=" in raw:
            raw, s = raw.rsplit(b";skip=", 1)
            skip = int(s)
        t = json.loads(raw)
        if t.get("fail_before") in (True, self.location):
            raise flight.FlightUnavailableError("worker is down (fake)")
        fail_after: Optional[int] = t.get("fail_after")
        if t.get("fail_loc") not in (None, self.location):
            fail_after = None  # the fault is injected on one location only
        split, rows, size = t["split"], t["rows"], self.row_bytes
        if self.hang_before_schema:
            # pyarrow shows no cancellation before the stream starts, so the
            # test releases the hang (else shutdown would wait for it).
            self.unhang.wait(self.hang_before_schema)

        stall_after = self.stall_after

        def gen():
            sent = 0
            for i in range(skip, rows):
                if stall_after is not None and sent >= stall_after:
                    while not context.is_cancelled():  # a hung server: no data, no error
                        time.sleep(0.02)
                    return
                if fail_after is not None and sent >= fail_after:
                    raise flight.FlightUnavailableError("worker died mid-stream (fake)")
                yield row_batch(split, i, size), json.dumps({"next": i + 1}).encode()
                sent += 1

        return flight.GeneratorStream(SCHEMA, gen())


def ticket(split: int, rows: int, **kw) -> bytes:
    return json.dumps(dict(split=split, rows=rows, **kw)).encode()
