"""Planning: GetFlightInfo on the coordinator, its answer as plain picklable values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import pyarrow as pa
import pyarrow.flight as flight

from ._connections import _call_options, _drop_client, _normalize_location, connect
from ._errors import ImageFlightError, _translate

DEFAULT_COORDINATOR = "grpc://127.0.0.1:8815"

# Location that the Flight spec reserves for "the service you got the FlightInfo from".
_REUSE_CONNECTION = "arrow-flight-reuse-connection://?"


@dataclass(frozen=True)
class Endpoint:
    """One split of a plan: an opaque ticket and the equivalent locations serving it."""

    index: int
    ticket: bytes
    locations: Tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """The answer of GetFlightInfo in plain, picklable Python values."""

    coordinator: str
    schema: pa.Schema
    endpoints: Tuple[Endpoint, ...]
    total_records: int = -1
    total_bytes: int = -1

    @property
    def partition_columns(self) -> List[str]:
        return [f.name for f in self.schema if f.name not in ("image", "tensor", "failure")]


def get_plan(
    command: Dict[str, Any],
    coordinator: str = DEFAULT_COORDINATOR,
    timeout: Optional[float] = None,
) -> Plan:
    """Runs GetFlightInfo for a command built by :func:`build_command`."""
    coordinator = _normalize_location(coordinator)
    descriptor = flight.FlightDescriptor.for_command(json.dumps(command).encode("utf-8"))
    try:
        info = connect(coordinator).get_flight_info(descriptor, _call_options(timeout))
    except Exception as err:  # noqa: BLE001 - translated below
        if isinstance(err, (flight.FlightUnavailableError, flight.FlightTimedOutError)):
            _drop_client(coordinator)
        raise _translate(err, f"GetFlightInfo({command['path']!r}) on {coordinator}") from err
    endpoints = []
    for i, ep in enumerate(info.endpoints):
        locs = tuple(_normalize_location(loc.uri.decode() if isinstance(loc.uri, bytes) else loc.uri)
                     for loc in ep.locations)
        locs = tuple(coordinator if loc == _REUSE_CONNECTION else loc for loc in locs)
        if not locs:  # Flight spec: no location means "the service that answered GetFlightInfo".
            locs = (coordinator,)
        endpoints.append(Endpoint(index=i, ticket=ep.ticket.ticket, locations=locs))
    schema = info.schema
    if schema.get_field_index("image") != 0 or not pa.types.is_struct(schema.field(0).type):
        raise ImageFlightError(f"unexpected schema from {coordinator}: {schema}")
    return Plan(
        coordinator=coordinator,
        schema=schema,
        endpoints=tuple(endpoints),
        total_records=info.total_records,
        total_bytes=info.total_bytes,
    )
