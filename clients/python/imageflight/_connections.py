"""Flight clients, one per location and process, shared between threads."""

from __future__ import annotations

import os
import threading
from typing import Dict, Optional, Tuple

import pyarrow.flight as flight

# No gRPC message size limit: one 1080p BGR image alone is 6.2 MB, above gRPC's 4 MiB default.
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
]


def _normalize_location(uri: str) -> str:
    if "://" not in uri:
        uri = "grpc://" + uri
    return uri


_clients: Dict[Tuple[str, int], flight.FlightClient] = {}
_clients_lock = threading.Lock()


def connect(location: str) -> flight.FlightClient:
    """Returns a FlightClient for location (cached per process and thread-safe).

    pyarrow's FlightClient is safe to share between threads; message size limits are
    lifted because one image may exceed gRPC's 4 MiB default.
    """
    location = _normalize_location(location)
    key = (location, os.getpid())
    with _clients_lock:
        c = _clients.get(key)
        if c is None:
            c = flight.FlightClient(location, generic_options=_GRPC_OPTIONS)
            _clients[key] = c
        return c


def _drop_client(location: str) -> None:
    """Forgets the cached client of a failed location, so the next call reconnects.

    The client is not closed: other threads may be streaming from it (closing it would fail
    their calls with "FlightClient is closed"); it is closed when the last reader lets go.
    """
    key = (_normalize_location(location), os.getpid())
    with _clients_lock:
        _clients.pop(key, None)


def _call_options(timeout: Optional[float]) -> flight.FlightCallOptions:
    if timeout is None:
        return flight.FlightCallOptions()
    return flight.FlightCallOptions(timeout=float(timeout))
