"""Flight calls from a process where gRPC cannot run: a forked child of a process whose
gRPC was live (see ``_connections``). The calls run in one helper process per forked
process, started with ``exec`` (fresh gRPC state); results come back over a socket,
record batches as Arrow IPC.

**The helper.** Started as ``python -I -c <boot> <json>``: isolated mode puts neither the
working folder nor PYTHONPATH on ``sys.path`` (a child running in a folder that holds an
``imageflight/`` or ``pyarrow.py`` must not execute it); the boot code puts back exactly
the owner's absolute ``sys.path`` entries, the owner's package folder first, and the
helper refuses to run if ``imageflight`` then resolves to another file than the owner's.
It runs in its own session (a terminal's Ctrl-C reaches the owner only; the helper
ignores SIGINT anyway) and dies with its owner: its stdin is one end of a control socket
whose other end only the owner holds, so the kernel closes it when the owner exits or is
killed (SIGKILL included) and the helper's main thread, blocked on it, sees EOF and exits.

**Calls.** Every call gets its own socket pair; the owner passes one end to the helper
over the control socket (SCM_RIGHTS) and the helper serves it in a thread, so one helper
carries all the concurrent streams of its owner, each with its own flow control (a
stream nobody reads blocks only its own thread). Cancelling a call shuts its socket down:
the helper cancels the gRPC call, a read blocked in the owner sees the end.

Frames on a call socket, both ways: kind (1 byte), header length (4 bytes, big endian),
header (JSON), payload length (8 bytes, big endian), payload. Requests: ``G`` DoGet
(header ``{"location", "timeout", "options"}``, payload: ticket) and ``I``
GetFlightInfo (same header, payload: the descriptor command). Answers: ``S`` schema (IPC),
then ``B`` batches (header ``{"meta": base64 app_metadata | null}``, payload: IPC record
batch message), then ``E``; ``F`` a serialized FlightInfo; ``X`` an error (header
``{"type", "module", "message"}``), re-raised in the caller as the same pyarrow class.

A call socket that ends without an answer means the helper is gone (killed, or its owner
is shutting down): that is :class:`~imageflight._errors.ForkHelperLost`, never a server
failure, so no failover follows.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from typing import Any, BinaryIO, Dict, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.flight as flight

from . import _errors
from ._errors import ForkHelperLost

_HEAD = struct.Struct(">cI")
_PLEN = struct.Struct(">Q")

# Runs in the helper under ``python -I``: sys.path gets the owner's entries back, nothing
# from the working folder or the environment.
_BOOT = ("import sys, json; a = json.loads(sys.argv[1]); sys.path[:0] = a['path']; "
         "from imageflight._forkproxy import main; main(a['package'])")


def _send_frame(s: socket.socket, kind: bytes, header: Dict[str, Any], payload: Any = b"") -> None:
    h = json.dumps(header).encode()
    mv = memoryview(payload)
    s.sendall(_HEAD.pack(kind, len(h)) + h + _PLEN.pack(mv.nbytes))
    if mv.nbytes:
        s.sendall(mv)


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
        cls = getattr(_errors, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            try:
                return cls(message)
            except TypeError:
                pass
    return flight.FlightInternalError(f"{module}.{name}: {message}")


def _shut(s: socket.socket) -> None:
    """Ends a call socket for both sides (wakes a reader blocked on it in another thread,
    even if a forked child holds a copy of the descriptor)."""
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# ----------------------------------------------------------------------------- helper side


class _Clients:
    """The helper's FlightClients, one per (location, gRPC options), shared by its calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: Dict[str, flight.FlightClient] = {}

    def get(self, location: str, options: Sequence[Sequence[Any]]) -> flight.FlightClient:
        key = json.dumps([location, options])
        with self._lock:
            c = self._by_key.get(key)
            if c is None:
                c = self._by_key[key] = flight.FlightClient(
                    location, generic_options=[tuple(o) for o in options])
            return c

    def drop(self, location: str, options: Sequence[Sequence[Any]]) -> None:
        with self._lock:
            self._by_key.pop(json.dumps([location, options]), None)


class _CallState:
    """Cancellation of one call: the owner closing the call's socket cancels the stream."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reader: Any = None
        self._cancelled = False
        self._finished = False

    def started(self, reader: Any) -> None:
        with self._lock:
            self._reader = reader
            cancel = self._cancelled
        if cancel:
            reader.cancel()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            r = None if self._finished else self._reader
        if r is not None:
            try:
                r.cancel()
            except Exception:  # pragma: no cover - best effort
                pass

    def finish(self) -> None:
        with self._lock:
            self._finished = True


def _watch(conn: socket.socket, state: _CallState) -> None:
    # The owner sends nothing after its request: the next thing is the socket's end.
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass
    state.cancel()


class _OwnerGone(Exception):
    """Writing to a call's socket failed: the owner cancelled the call or is gone."""


def _answer(conn: socket.socket, kind: bytes, header: Dict[str, Any], payload: Any = b"") -> None:
    try:
        _send_frame(conn, kind, header, payload)
    except OSError as err:  # not pyarrow's ArrowIOError (an OSError too): only the socket's
        raise _OwnerGone(str(err)) from None


def _serve_call(conn: socket.socket, clients: _Clients) -> None:
    state = _CallState()
    rf = conn.makefile("rb")
    try:
        req = _read_frame(rf)
        if req is None:
            return
        kind, header, payload = req
        threading.Thread(target=_watch, args=(conn, state), daemon=True).start()
        loc, options = header["location"], header.get("options") or []
        try:
            c = clients.get(loc, options)
            t = header.get("timeout")
            opts = flight.FlightCallOptions(timeout=float(t)) if t else flight.FlightCallOptions()
            if kind == b"G":
                reader = c.do_get(flight.Ticket(payload), opts)
                state.started(reader)
                _answer(conn, b"S", {}, reader.schema.serialize())
                while True:
                    try:
                        chunk = reader.read_chunk()
                    except StopIteration:
                        break
                    if chunk.data is None:
                        continue
                    meta = chunk.app_metadata
                    m = None if meta is None else base64.b64encode(meta.to_pybytes()).decode()
                    _answer(conn, b"B", {"meta": m}, chunk.data.serialize())
                _answer(conn, b"E", {})
            elif kind == b"I":
                info = c.get_flight_info(flight.FlightDescriptor.for_command(payload), opts)
                _answer(conn, b"F", {}, info.serialize())
            else:
                raise ValueError(f"unknown request {kind!r}")
        except _OwnerGone:
            raise  # the owner cancelled the call or went away: nobody to answer
        except Exception as err:  # noqa: BLE001 - handed to the caller
            if isinstance(err, (flight.FlightUnavailableError, flight.FlightTimedOutError)):
                clients.drop(loc, options)
            _answer(conn, b"X", _error_header(err))
    except (_OwnerGone, OSError, EOFError, ValueError):  # no request, or nobody to answer
        pass
    finally:
        state.finish()
        _shut(conn)
        rf.close()
        conn.close()


def main(package: str) -> None:
    # Ctrl-C is the owner's to handle; the helper ends when the owner does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import imageflight

    got = os.path.dirname(os.path.abspath(imageflight.__file__))
    if got != package:
        sys.stderr.write(f"imageflight fork proxy: helper imported {got}, not its owner's {package}\n")
        os._exit(2)
    os.dup2(2, 1)  # nothing of the protocol uses stdout; anything printed goes to stderr
    ctl = socket.socket(fileno=os.dup(0))
    os.close(0)
    clients = _Clients()
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctl, 16, 8)
        except OSError:
            break
        if not msg and not fds:
            break  # the owner exited or was killed
        for fd in fds:
            conn = socket.socket(fileno=fd)
            threading.Thread(target=_serve_call, args=(conn, clients), daemon=True).start()
    os._exit(0)  # no gRPC teardown, no waiting for calls: nobody is left to read them


# ----------------------------------------------------------------------------- caller side


class _Helper:
    def __init__(self) -> None:
        package = os.path.dirname(os.path.abspath(__file__))
        path = [os.path.dirname(package)] + [p for p in sys.path if p and os.path.isabs(p)]
        self._ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, json.dumps({"path": path, "package": package})],
                stdin=theirs, close_fds=True, start_new_session=True,
            )
        except BaseException:
            self._ctl.close()
            raise
        finally:
            theirs.close()
        self.owner = os.getpid()
        self._lock = threading.Lock()

    def open_call(self) -> socket.socket:
        """A new call's socket, its other end handed to the helper."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self._lock:
                socket.send_fds(self._ctl, [b"c"], [theirs.fileno()])
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        return mine

    def lost(self, err: BaseException) -> ForkHelperLost:
        """The error for a call that ended without an answer: the helper is gone."""
        try:
            code = self.proc.wait(timeout=1)
        except Exception:  # still running: only this call's socket broke
            return ForkHelperLost(f"imageflight fork proxy: helper {self.proc.pid} dropped the call ({err})")
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return ForkHelperLost(f"imageflight fork proxy: helper {self.proc.pid} {how}")

    def stop(self) -> None:
        try:
            self._ctl.close()  # the helper sees EOF and exits
        except OSError:  # pragma: no cover
            pass
        try:
            self.proc.wait(timeout=5)
        except Exception:  # pragma: no cover - a helper stuck in teardown
            self.proc.kill()


_helper: Optional[_Helper] = None
_helper_lock = threading.Lock()
# Helpers of the parent, inherited by fork: never used, waited for or collected here.
_inherited: List[_Helper] = []


def _after_fork_child() -> None:
    """A forked child must not use its parent's helper, nor keep it alive: the helper's
    control socket is closed here (the parent keeps its own descriptor)."""
    global _helper, _helper_lock
    if _helper is not None:
        try:
            _helper._ctl.close()
        except OSError:  # pragma: no cover
            pass
        _inherited.append(_helper)
    _helper = None
    _helper_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_child)


def _get_helper() -> _Helper:
    """This process's helper, started on first use (and again if it died)."""
    global _helper
    with _helper_lock:
        h = _helper
        if h is None or h.owner != os.getpid() or h.proc.poll() is not None:
            h = _helper = _Helper()
        return h


def shutdown_helpers() -> None:
    """Stops this process's helper (calls in progress fail)."""
    global _helper
    with _helper_lock:
        h, _helper = _helper, None
    if h is not None and h.owner == os.getpid():
        h.stop()


class _Chunk:
    __slots__ = ("data", "app_metadata")

    def __init__(self, data: pa.RecordBatch, app_metadata: Optional[pa.Buffer]):
        self.data = data
        self.app_metadata = app_metadata


class _Call:
    """One call on its own socket: send the request, read the answer frames."""

    def __init__(self, kind: bytes, header: Dict[str, Any], payload: bytes):
        self.helper = _get_helper()
        try:
            self.sock = self.helper.open_call()
        except OSError as err:
            raise self.helper.lost(err) from None
        self._rf = self.sock.makefile("rb")
        try:
            _send_frame(self.sock, kind, header, payload)
        except BaseException as err:
            self.close()
            if isinstance(err, OSError):
                raise self.helper.lost(err) from None
            raise

    def recv(self) -> Tuple[bytes, Dict[str, Any], bytes]:
        try:
            frame = _read_frame(self._rf)
            if frame is None:
                raise EOFError("call closed without an answer")
            return frame
        except (EOFError, OSError, ValueError) as err:
            self.close()
            raise EOFError(str(err)) from None

    def close(self) -> None:
        _shut(self.sock)
        try:
            self._rf.close()
            self.sock.close()
        except OSError:  # pragma: no cover
            pass


class ProxyReader:
    """The FlightStreamReader subset EndpointReader uses: ``read_chunk()``, ``cancel()``."""

    def __init__(self, call: _Call, schema: pa.Schema):
        self._call: Optional[_Call] = call
        self.schema = schema
        self._cancelled = False

    def read_chunk(self) -> _Chunk:
        call = self._call
        if call is None:
            if self._cancelled:
                raise flight.FlightCancelledError("stream cancelled")
            raise StopIteration
        try:
            kind, header, payload = call.recv()
        except EOFError as err:
            self._call = None
            if self._cancelled:
                raise flight.FlightCancelledError("stream cancelled") from None
            raise call.helper.lost(err) from None
        if kind == b"B":
            batch = pa.ipc.read_record_batch(pa.py_buffer(payload), self.schema)
            meta = header.get("meta")
            return _Chunk(batch, None if meta is None else pa.py_buffer(base64.b64decode(meta)))
        self._call = None
        call.close()
        if kind == b"E":
            raise StopIteration
        if kind == b"X":
            raise _rebuild_error(header)
        raise flight.FlightInternalError(f"imageflight fork proxy: unexpected frame {kind!r}")

    def cancel(self) -> None:
        """Ends the call; a read_chunk blocked in another thread raises FlightCancelledError."""
        self._cancelled = True
        call = self._call
        if call is not None:
            _shut(call.sock)

    def __del__(self) -> None:
        # An abandoned stream: end the helper's call too (best effort, even at exit).
        try:
            call = self._call
            if call is not None:
                _shut(call.sock)
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
    call run by this process's helper."""

    def __init__(self, location: str, grpc_options: Sequence[Tuple[str, Any]] = ()):
        self.location = location
        self._options = [list(o) for o in grpc_options]

    def _header(self, options: Any) -> Dict[str, Any]:
        return {"location": self.location, "timeout": getattr(options, "timeout_seconds", None),
                "options": self._options}

    def _answer(self, call: _Call) -> Tuple[bytes, Dict[str, Any], bytes]:
        try:
            return call.recv()
        except EOFError as err:
            raise call.helper.lost(err) from None

    def do_get(self, ticket: Any, options: Any = None) -> ProxyReader:
        raw = ticket.ticket if isinstance(ticket, flight.Ticket) else bytes(ticket)
        call = _Call(b"G", self._header(options), raw)
        try:
            kind, header, payload = self._answer(call)
        except BaseException:
            call.close()
            raise
        if kind == b"S":
            return ProxyReader(call, pa.ipc.read_schema(pa.py_buffer(payload)))
        call.close()
        if kind == b"X":
            raise _rebuild_error(header)
        raise flight.FlightInternalError(f"imageflight fork proxy: unexpected frame {kind!r}")

    def get_flight_info(self, descriptor: flight.FlightDescriptor, options: Any = None) -> flight.FlightInfo:
        call = _Call(b"I", self._header(options), descriptor.command)
        try:
            kind, header, payload = self._answer(call)
        finally:
            call.close()
        if kind == b"F":
            return flight.FlightInfo.deserialize(payload)
        if kind == b"X":
            raise _rebuild_error(header)
        raise flight.FlightInternalError(f"imageflight fork proxy: unexpected frame {kind!r}")

    def close(self) -> None:
        pass
