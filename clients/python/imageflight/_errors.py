"""The exceptions this client raises, and how pyarrow's Flight errors map onto them."""

from __future__ import annotations

from typing import Optional

import pyarrow as pa
import pyarrow.flight as flight


class ImageFlightError(Exception):
    """Base class of every error this client raises on purpose."""


class InvalidArgument(ImageFlightError, ValueError):
    """An option was rejected (client-side validation or the server's InvalidArgument)."""


class PermissionDenied(ImageFlightError, PermissionError):
    """The path lies outside the server's configured roots (or the ticket was refused)."""


class PathNotFound(ImageFlightError, FileNotFoundError):
    """The path does not exist on the server's file system."""


class Unavailable(ImageFlightError, ConnectionError):
    """No location of an endpoint (or the coordinator) could be reached."""


class StreamInterrupted(ImageFlightError):
    """A DoGet stream failed after rows had been received.

    Raised when every location of an endpoint failed, or when a stream cannot be resumed
    (the server sent no ``next`` offset, resuming was disabled, or the error is not one
    another location could fix); ``rows_received`` and ``next_offset`` tell how far it got.
    """

    def __init__(self, message: str, rows_received: int, next_offset: Optional[int]):
        super().__init__(message)
        self.rows_received = rows_received
        self.next_offset = next_offset


class StallTimeout(Unavailable):
    """A location sent nothing (no schema, no batch) for ``stall_timeout`` seconds: it is
    treated as hung, its stream is cancelled and the endpoint fails over / resumes."""


def _translate(err: BaseException, what: str) -> BaseException:
    """Maps a pyarrow/Flight exception to this module's exception types.

    pyarrow maps gRPC codes as follows: INVALID_ARGUMENT -> ArrowInvalid, NOT_FOUND ->
    ArrowKeyError, PERMISSION_DENIED -> FlightUnauthorizedError, UNAVAILABLE ->
    FlightUnavailableError, DEADLINE_EXCEEDED -> FlightTimedOutError.
    """
    msg = f"{what}: {_clean(err)}"
    if isinstance(err, ImageFlightError):
        return err
    if isinstance(err, flight.FlightUnauthorizedError):
        return PermissionDenied(msg)
    if isinstance(err, flight.FlightUnauthenticatedError):
        return PermissionDenied(msg)
    if isinstance(err, flight.FlightUnavailableError):
        return Unavailable(msg)
    if isinstance(err, flight.FlightTimedOutError):
        return Unavailable(msg)
    if isinstance(err, pa.ArrowKeyError):
        return PathNotFound(msg)
    if isinstance(err, pa.ArrowInvalid):
        return InvalidArgument(msg)
    return ImageFlightError(msg)


def _clean(err: BaseException) -> str:
    # pyarrow appends ". Detail: ..." and gRPC debug strings; keep the useful head.
    text = str(err).strip()
    for marker in (". gRPC client debug context", "\ngRPC client debug context"):
        if marker in text:
            text = text.split(marker, 1)[0]
    return text
