"""Flight calls from a process where gRPC cannot run: a forked child of a process whose
gRPC was live (see ``_connections``). Each call runs in a helper process started with
``exec`` (``python -m imageflight._forkproxy``: fresh gRPC state); results come back over
a pipe, record batches as Arrow IPC. Helpers are reused for later calls of the same
process and exit when their pipe closes.

Frames, both ways: kind (1 byte), header length (4 bytes, big endian), header (JSON),
payload length (8 bytes, big endian), payload.

Requests: ``G`` DoGet (header ``{"location", "timeout"}``, payload: ticket) and ``I``
GetFlightInfo (same header, payload: the descriptor command). Answers: ``S`` schema (IPC),
then ``B`` batches (header ``{"meta": base64 app_metadata | null}``, payload: IPC record
batch message), then ``E``; ``F`` a serialized FlightInfo; ``X`` an error (header
``{"type", "module", "message"}``), re-raised in the caller as the same pyarrow class.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import threading
from typing import Any, BinaryIO, Dict, List, Optional, Tuple

import pyarrow as pa
import pyarrow.flight as flight

_HEAD = struct.Struct(">cI")
_PLEN = struct.Struct(">Q")

#: Idle helpers kept for reuse by one process.
MAX_IDLE = 16


def _write_frame(f: BinaryIO, kind: bytes, header: Dict[str, Any], payload: Any = b"") -> None:
    h = json.dumps(header).encode()
    mv = memoryview(payload)
    f.write(_HEAD.pack(kind, len(h)) + h + _PLEN.pack(mv.nbytes))
    if mv.nbytes:
        f.write(mv)
    f.flush()


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if data is None or len(data) != n:
        raise EOFError(f"pipe closed ({0 if not data else len(data)} of {n} bytes)")
    return data


def _read_frame(f: BinaryIO) -> Optional[Tuple[bytes, Dict[str, Any], bytes]]:
    first = f.read(_HEAD.size)
    if not first:
        return None
    if len(first) != _HEAD.size:
        raise EOFError("pipe closed mid-frame")
    kind, hlen = _HEAD.unpack(first)
    header = json.loads(_read_exact(f, hlen)) if hlen else {}
    (plen,) = _PLEN.unpack(_read_exact(f, _PLEN.size))
    payload = _read_exact(f, plen) if plen else b""
    return kind, header, payload


def _error_header(err: BaseException) -> Dict[str, Any]:
    return {"type": type(err).__name__, "module": type(err).__module__, "message": str(err)}


def _rebuild_error(header: Dict[str, Any]) -> BaseException:
    """The pyarrow exception the helper caught, as the same class (so failover, resume and
    the PlanExpired check decide exactly as for a direct call)."""
    name, module, message = header.get("type", ""), header.get("module", ""), header.get("message", "")
    if module.startswith("pyarrow"):
        for ns in (flight, pa, pa.lib):
            cls = getattr(ns, name, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                try:
                    return cls(message)
                except Exception:  # pragma: no cover - unusual constructor
                    break
    if module.startswith("imageflight"):
        from . import _errors

        cls = getattr(_errors, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            try:
                return cls(message)
            except TypeError:
                pass
    return flight.FlightInternalError(f"{module}.{name}: {message}")


# ----------------------------------------------------------------------------- helper side


def _serve(inp: BinaryIO, out: BinaryIO) -> None:
    from ._connections import _GRPC_OPTIONS

    clients: Dict[str, flight.FlightClient] = {}
    while True:
        req = _read_frame(inp)
        if req is None:
            return
        kind, header, payload = req
        try:
            loc = header["location"]
            c = clients.get(loc)
            if c is None:
                c = clients[loc] = flight.FlightClient(loc, generic_options=_GRPC_OPTIONS)
            t = header.get("timeout")
            opts = flight.FlightCallOptions(timeout=float(t)) if t else flight.FlightCallOptions()
            if kind == b"G":
                reader = c.do_get(flight.Ticket(payload), opts)
                _write_frame(out, b"S", {}, reader.schema.serialize())
                while True:
                    try:
                        chunk = reader.read_chunk()
                    except StopIteration:
                        break
                    if chunk.data is None:
                        continue
                    meta = chunk.app_metadata
                    m = None if meta is None else base64.b64encode(meta.to_pybytes()).decode()
                    _write_frame(out, b"B", {"meta": m}, chunk.data.serialize())
                _write_frame(out, b"E", {})
            elif kind == b"I":
                info = c.get_flight_info(flight.FlightDescriptor.for_command(payload), opts)
                _write_frame(out, b"F", {}, info.serialize())
            else:
                raise ValueError(f"unknown request {kind!r}")
        except (BrokenPipeError, EOFError):
            raise
        except Exception as err:  # noqa: BLE001 - handed to the caller
            if isinstance(err, (flight.FlightUnavailableError, flight.FlightTimedOutError)):
                clients.pop(header.get("location"), None)
            _write_frame(out, b"X", _error_header(err))


def main() -> None:
    # The protocol owns the original stdout; anything printed goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = os.fdopen(0, "rb")
    try:
        _serve(inp, out)
    except (BrokenPipeError, EOFError, KeyboardInterrupt):
        pass
    os._exit(0)  # no gRPC teardown: the caller is gone or done


# ----------------------------------------------------------------------------- caller side


class _Helper:
    def __init__(self) -> None:
        pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "imageflight._forkproxy"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )
        self.pid = os.getpid()  # the process that owns the pipes

    def send(self, kind: bytes, header: Dict[str, Any], payload: bytes) -> None:
        _write_frame(self.proc.stdin, kind, header, payload)

    def recv(self) -> Tuple[bytes, Dict[str, Any], bytes]:
        frame = _read_frame(self.proc.stdout)
        if frame is None:
            raise EOFError("helper closed its pipe")
        return frame

    def kill(self) -> None:
        try:
            self.proc.kill()
        except Exception:  # pragma: no cover
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except Exception:
                pass
        try:
            self.proc.wait(timeout=5)
        except Exception:  # pragma: no cover
            pass


_idle: List[_Helper] = []
_idle_lock = threading.Lock()
_orphans: List[_Helper] = []


def _after_fork_child() -> None:
    """A forked child must not use its parent's helpers (their pipes are shared)."""
    global _idle, _idle_lock
    _orphans.extend(_idle)
    _idle = []
    _idle_lock = threading.Lock()


def _take() -> _Helper:
    with _idle_lock:
        while _idle:
            h = _idle.pop()
            if h.pid == os.getpid() and h.proc.poll() is None:
                return h
    return _Helper()


def _give_back(h: _Helper) -> None:
    with _idle_lock:
        if h.pid == os.getpid() and h.proc.poll() is None and len(_idle) < MAX_IDLE:
            _idle.append(h)
            return
    h.kill()


def shutdown_helpers() -> None:
    """Stops this process's idle helpers."""
    with _idle_lock:
        hs = list(_idle)
        _idle.clear()
    for h in hs:
        h.kill()


class _Chunk:
    __slots__ = ("data", "app_metadata")

    def __init__(self, data: pa.RecordBatch, app_metadata: Optional[pa.Buffer]):
        self.data = data
        self.app_metadata = app_metadata


class ProxyReader:
    """The FlightStreamReader subset EndpointReader uses: ``read_chunk()``, ``cancel()``."""

    def __init__(self, helper: _Helper, schema: pa.Schema):
        self._helper: Optional[_Helper] = helper
        self.schema = schema
        self._cancelled = False
        self._lock = threading.Lock()

    def read_chunk(self) -> _Chunk:
        h = self._helper
        if h is None:
            if self._cancelled:
                raise flight.FlightCancelledError("stream cancelled")
            raise StopIteration
        try:
            kind, header, payload = h.recv()
        except (EOFError, OSError, ValueError) as err:
            self._drop(kill=True)
            if self._cancelled:
                raise flight.FlightCancelledError("stream cancelled") from None
            raise flight.FlightUnavailableError(f"imageflight fork proxy: helper exited ({err})") from None
        if kind == b"B":
            batch = pa.ipc.read_record_batch(pa.py_buffer(payload), self.schema)
            meta = header.get("meta")
            return _Chunk(batch, None if meta is None else pa.py_buffer(base64.b64decode(meta)))
        if kind == b"E":
            self._drop(kill=False)
            raise StopIteration
        self._drop(kill=kind != b"X")
        if kind == b"X":
            raise _rebuild_error(header)
        raise flight.FlightInternalError(f"imageflight fork proxy: unexpected frame {kind!r}")

    def _drop(self, kill: bool) -> None:
        with self._lock:
            h, self._helper = self._helper, None
        if h is not None:
            if kill:
                h.kill()
            else:
                _give_back(h)

    def cancel(self) -> None:
        self._cancelled = True
        with self._lock:
            h = self._helper
        if h is not None:
            # Killing the helper ends the call; a read_chunk blocked on the pipe sees EOF.
            try:
                h.proc.kill()
            except Exception:  # pragma: no cover
                pass

    def read_all(self) -> pa.Table:
        batches = []
        while True:
            try:
                batches.append(self.read_chunk().data)
            except StopIteration:
                return pa.Table.from_batches(batches, schema=self.schema)


class ProxyClient:
    """The FlightClient subset this package uses (``do_get``, ``get_flight_info``), each
    call run by a helper process."""

    def __init__(self, location: str):
        self.location = location

    def _header(self, options: Any) -> Dict[str, Any]:
        return {"location": self.location, "timeout": getattr(options, "timeout_seconds", None)}

    def do_get(self, ticket: Any, options: Any = None) -> ProxyReader:
        raw = ticket.ticket if isinstance(ticket, flight.Ticket) else bytes(ticket)
        h = _take()
        try:
            h.send(b"G", self._header(options), raw)
            kind, header, payload = h.recv()
        except BaseException as err:
            h.kill()
            if isinstance(err, (EOFError, OSError)):
                raise flight.FlightUnavailableError(f"imageflight fork proxy: helper failed ({err})") from None
            raise
        if kind == b"S":
            return ProxyReader(h, pa.ipc.read_schema(pa.py_buffer(payload)))
        if kind == b"X":
            _give_back(h)
            raise _rebuild_error(header)
        h.kill()
        raise flight.FlightInternalError(f"imageflight fork proxy: unexpected frame {kind!r}")

    def get_flight_info(self, descriptor: flight.FlightDescriptor, options: Any = None) -> flight.FlightInfo:
        h = _take()
        try:
            h.send(b"I", self._header(options), descriptor.command)
            kind, header, payload = h.recv()
        except BaseException as err:
            h.kill()
            if isinstance(err, (EOFError, OSError)):
                raise flight.FlightUnavailableError(f"imageflight fork proxy: helper failed ({err})") from None
            raise
        _give_back(h)
        if kind == b"F":
            return flight.FlightInfo.deserialize(payload)
        if kind == b"X":
            raise _rebuild_error(header)
        raise flight.FlightInternalError(f"imageflight fork proxy: unexpected frame {kind!r}")

    def close(self) -> None:
        pass


if __name__ == "__main__":
    main()
