"""Planning: GetFlightInfo on the coordinator, its answer as plain picklable values."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import pyarrow as pa
import pyarrow.flight as flight

from ._connections import _call_options, _drop_client, _normalize_location, connect
from ._errors import ImageFlightError, _translate
from ._wire import parse_endpoint_meta

DEFAULT_COORDINATOR = "grpc://127.0.0.1:8815"

#: Environment variable naming the coordinator when none is passed (as for the CLI).
COORDINATOR_ENV = "IMAGEFLIGHT_COORDINATOR"


def resolve_coordinator(coordinator: Optional[str] = None) -> str:
    """``coordinator``, else ``$IMAGEFLIGHT_COORDINATOR``, else :data:`DEFAULT_COORDINATOR`."""
    if coordinator is None:
        coordinator = os.environ.get(COORDINATOR_ENV) or DEFAULT_COORDINATOR
    if not isinstance(coordinator, str) or not coordinator:
        from ._errors import InvalidArgument

        raise InvalidArgument(f"coordinator must be a Flight URI string, got {coordinator!r}")
    return coordinator

# Location that the Flight spec reserves for "the service you got the FlightInfo from".
_REUSE_CONNECTION = "arrow-flight-reuse-connection://?"


@dataclass(frozen=True)
class Endpoint:
    """One split of a plan: an opaque ticket and the equivalent locations serving it."""

    index: int
    ticket: bytes
    locations: Tuple[str, ...]
    #: The split's planned file count (from the endpoint's app_metadata); -1 when the
    #: coordinator does not say.
    files: int = -1


@dataclass(frozen=True)
class Plan:
    """The answer of GetFlightInfo in plain, picklable Python values."""

    coordinator: str
    schema: pa.Schema
    endpoints: Tuple[Endpoint, ...]
    total_records: int = -1
    total_bytes: int = -1
    #: The columns the read's ``model`` adds (fetched, softmax, argmax; docs/models.md).
    model_columns: Tuple[str, ...] = ()

    @property
    def partition_columns(self) -> List[str]:
        skip = {"image", "tensor", "failure", *self.model_columns}
        return [f.name for f in self.schema if f.name not in skip]


def get_plan(
    path_or_command: Any,
    coordinator: Optional[str] = None,
    timeout: Optional[float] = None,
    *,
    recursive: bool = False,
    num_partitions: int = -1,
    drop_image_failures: bool = False,
    sample_ratio: float = 1.0,
    seed: int = 0,
    transforms: Any = None,
    tensor: Any = None,
    fast_resize: bool = False,
    **selection: Any,
) -> Plan:
    """Plans a read (GetFlightInfo on the coordinator) and returns the :class:`Plan`:
    schema and endpoints (tickets as bytes, locations), plain picklable values that can be
    handed to other processes and read there with :func:`~imageflight.iter_plan` /
    :func:`~imageflight.read_plan`.

    ``coordinator``: its Flight URI (default: ``$IMAGEFLIGHT_COORDINATOR``, else
    ``grpc://127.0.0.1:8815``). ``path_or_command``: a path, with the read options of :func:`~imageflight.read_images`
    as keywords; or a command dict from :func:`~imageflight.build_command` (the keywords
    are then ignored).
    """
    if isinstance(path_or_command, dict):
        command = path_or_command
    else:
        from ._options import build_command, check_selection

        check_selection(get_plan, selection)
        command = build_command(path_or_command, recursive, num_partitions,
                                drop_image_failures, sample_ratio, seed,
                                transforms=transforms, tensor=tensor, fast_resize=fast_resize,
                                **selection)
    coordinator = _normalize_location(resolve_coordinator(coordinator))
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
        files = parse_endpoint_meta(getattr(ep, "app_metadata", None))
        endpoints.append(Endpoint(index=i, ticket=ep.ticket.ticket, locations=locs,
                                  files=-1 if files is None else files))
    schema = info.schema
    if schema.get_field_index("image") != 0 or not pa.types.is_struct(schema.field(0).type):
        raise ImageFlightError(f"unexpected schema from {coordinator}: {schema}")
    return Plan(
        coordinator=coordinator,
        schema=schema,
        endpoints=tuple(endpoints),
        total_records=info.total_records,
        total_bytes=info.total_bytes,
        model_columns=_model_columns(command.get("model")),
    )


def _model_columns(model: Any) -> Tuple[str, ...]:
    """The columns a descriptor's ``model`` adds: fetchDict's keys, softMaxDict's and
    argMaxDict's values."""
    if not isinstance(model, dict):
        return ()
    out = list(model.get("fetchDict") or {})
    for key in ("softMaxDict", "argMaxDict"):
        out += list((model.get(key) or {}).values())
    return tuple(out)
