"""Flight clients, one per location and process, shared between threads; fork safety.

**Fork.** gRPC (inside pyarrow) does not survive ``fork()``: a child forked while the
parent holds live gRPC state (a client, its threads) hangs in every call, deadlines
included (checked with pyarrow 26.0.1: ``FlightClient(...)`` and ``do_get`` never return
in the child). PyTorch's ``DataLoader(num_workers=N)`` forks exactly so. Hence:

- clients are cached per process id, and ``os.register_at_fork(after_in_child=...)``
  drops the inherited ones **without closing them** (closing would talk to the parent's
  gRPC state); they are kept referenced so their destructors never run in the child;
- before a fork the parent runs the cyclic garbage collector, so that a FlightClient
  that is garbage but still in a reference cycle (a dropped client of a failed worker
  held by an exception's traceback, a user's client in a cycle) is closed in the parent:
  in the child its destructor would close it there and hang forever in gRPC's teardown
  (``pthread_cond_destroy`` of a condition the parent's threads were waiting on);
- a child forked while gRPC was live in the parent (:func:`grpc_tainted`) does not call
  gRPC at all: :func:`connect` returns a proxy that runs its Flight calls in one helper
  process per child, started by ``exec`` (``imageflight._forkproxy``: fresh gRPC state,
  isolated from the working folder, dies with the child), which streams the batches back
  over a socket per call as Arrow IPC. Failover, resume and the stall watchdog work
  unchanged on top of it. A child forked from a process with no live gRPC state uses
  gRPC directly.

A process about to fork workers can avoid that helper in each of them: Flight calls made
inside :func:`through_helper` run in the process's own helper, so the process keeps no
gRPC state and the workers it forks use gRPC directly (the PyTorch dataset plans so).

``IMAGEFLIGHT_FORK_PROXY=always|never|auto`` (default ``auto``) overrides the decision.
"""

from __future__ import annotations

import contextlib
import gc
import glob
import os
import stat
import threading
from typing import Any, Dict, List, Optional, Tuple

import pyarrow.flight as flight

from . import _forkproxy

# No gRPC message size limit: one 1080p BGR image alone is 6.2 MB, above gRPC's 4 MiB default.
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
]


def _normalize_location(uri: str) -> str:
    if "://" not in uri:
        uri = "grpc://" + uri
    return uri


UNIX_PREFIX = "grpc+unix://"


def unix_path(location: str) -> Optional[str]:
    """The socket path of a ``grpc+unix:///abs/path`` location, else None."""
    if location.startswith(UNIX_PREFIX) and location[len(UNIX_PREFIX):].startswith("/"):
        return location[len(UNIX_PREFIX):]
    return None


def reachable(locations: List[str]) -> List[str]:
    """An endpoint's locations in the order this host should try them: the
    ``grpc+unix://`` ones whose socket exists here first (a Unix socket costs less CPU per
    byte than loopback TCP), then the network ones in their order. Unix locations whose
    socket is not here name another host's worker and are left out (docs/protocol.md;
    the Go client's peer.Reachable)."""
    local, network = [], []
    for loc in locations:
        path = unix_path(loc)
        if path is None:
            network.append(loc)
            continue
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                local.append(loc)
        except OSError:
            pass
    return local + network


_clients: Dict[Tuple[str, int], Any] = {}
_clients_lock = threading.Lock()
# Clients inherited through fork(): never closed, never collected (their destructors would
# call into the parent's gRPC state).
_inherited: List[Any] = []
# True in a process forked while gRPC was live in its parent (or in an ancestor).
_tainted = False
# Decided in the parent just before fork(), read by the child after it.
_taint_at_fork = False

# Thread names (/proc/self/task/*/comm) of a live gRPC core, pyarrow 15-26.
_GRPC_THREADS = ("grpc", "event_engine", "lifeguard", "default-executo", "resolver-execu",
                 "timer_manager")


def _grpc_threads_alive() -> bool:
    """True if this process runs gRPC threads (Linux: /proc); unknown elsewhere: True if
    pyarrow's Flight module has been imported."""
    try:
        names = []
        for p in glob.glob("/proc/self/task/*/comm"):
            try:
                with open(p) as f:
                    names.append(f.read().strip())
            except OSError:
                pass
        if not names:
            raise OSError("no /proc")
    except OSError:
        import sys

        return "pyarrow._flight" in sys.modules
    return any(n.startswith(_GRPC_THREADS) for n in names)


def _before_fork() -> None:
    global _taint_at_fork
    mode = os.environ.get("IMAGEFLIGHT_FORK_PROXY", "auto").strip().lower()
    if mode == "never":
        _taint_at_fork = False
        return
    live = any(isinstance(c, flight.FlightClient) for c in list(_clients.values()))
    _taint_at_fork = _tainted or live or mode == "always" or _grpc_threads_alive()
    if _taint_at_fork:
        gc.collect()  # finalise unreachable clients here, not in the child (module docs)


def _after_fork_child() -> None:
    global _clients, _clients_lock, _tainted, _through_helper
    _through_helper = 0
    _inherited.extend(_clients.values())
    _clients = {}
    _clients_lock = threading.Lock()  # the parent's may have been held by another thread
    _tainted = _taint_at_fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_child)


def grpc_tainted() -> bool:
    """True if this process was forked while gRPC was live in its parent: gRPC cannot be
    used here, Flight calls go through a helper process."""
    mode = os.environ.get("IMAGEFLIGHT_FORK_PROXY", "auto").strip().lower()
    if mode == "never":
        return False
    return _tainted


_through_helper = 0  # depth of through_helper() blocks open in this process


@contextlib.contextmanager
def through_helper():
    """Within this block, the process's Flight calls (its reading threads' too) run in its
    helper (as in a forked child), leaving no gRPC state in this process: children it
    forks later use gRPC directly instead of starting a helper each (one helper here, kept
    for later calls, instead of one per child per epoch). A process whose gRPC is live
    already gains nothing; its children use helpers as before."""
    global _through_helper
    with _clients_lock:
        _through_helper += 1
    try:
        yield
    finally:
        with _clients_lock:
            _through_helper -= 1


def connect(location: str) -> Any:
    """Returns a FlightClient for location (cached per process and thread-safe).

    pyarrow's FlightClient is safe to share between threads; message size limits are
    lifted because one image may exceed gRPC's 4 MiB default. In a process forked while
    gRPC was live (:func:`grpc_tainted`), returns a proxy with the same ``do_get`` /
    ``get_flight_info`` methods that runs each call in a helper process.
    """
    location = _normalize_location(location)
    proxied = grpc_tainted() or _through_helper > 0
    key = (location, os.getpid(), proxied)
    with _clients_lock:
        c = _clients.get(key)
        if c is None:
            if proxied:
                c = _forkproxy.ProxyClient(location, _GRPC_OPTIONS)
            else:
                c = flight.FlightClient(location, generic_options=_GRPC_OPTIONS)
            _clients[key] = c
        return c


def close_connections() -> None:
    """Closes this process's cached Flight clients (open streams on them fail) and stops
    its fork helper, if it has one.

    Not needed for fork safety (see the module docs); useful to release sockets, or to let
    gRPC shut down before forking so that children use gRPC directly.
    """
    global _clients
    with _clients_lock:
        old, _clients = _clients, {}
    for c in old.values():
        try:
            c.close()
        except Exception:  # pragma: no cover - best effort
            pass
    _forkproxy.shutdown_helpers()


def _drop_client(location: str) -> None:
    """Forgets the cached client of a failed location, so the next call reconnects.

    The client is not closed: other threads may be streaming from it (closing it would fail
    their calls with "FlightClient is closed"); it is closed when the last reader lets go.
    """
    location = _normalize_location(location)
    with _clients_lock:
        for proxied in (False, True):
            _clients.pop((location, os.getpid(), proxied), None)


class _CallOptions(flight.FlightCallOptions):
    """FlightCallOptions that remember their timeout (the fork proxy forwards it)."""

    timeout_seconds: Optional[float] = None


def _call_options(timeout: Optional[float]) -> flight.FlightCallOptions:
    if timeout is None:
        return _CallOptions()
    o = _CallOptions(timeout=float(timeout))
    o.timeout_seconds = float(timeout)
    return o
