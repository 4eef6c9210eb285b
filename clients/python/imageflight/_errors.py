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


class PlanExpired(ImageFlightError):
    """A ticket of the plan can no longer be served: plan again.

    The server answers gRPC FAILED_PRECONDITION when a ticket expired, or when it belongs to
    a large plan (file lists kept on the coordinator) that the coordinator no longer holds
    (it restarted, or evicted the plan for newer ones). Every location gives the same
    answer, so the endpoint is not tried elsewhere. Call :func:`imageflight.read_images`
    (or :func:`imageflight.get_plan`) again; in Spark, call
    ``spark.read.format("imageflight")...load()`` again (a DataFrame keeps its partitions,
    i.e. its tickets, so re-running a query on the old DataFrame fails the same way).

    ``rows_received``: rows of the endpoint already received when it happened (0 unless a
    resume on another location was refused); ``reason``: the server's message.
    """

    def __init__(self, message: str, rows_received: int = 0, reason: str = ""):
        super().__init__(message)
        self.rows_received = rows_received
        self.reason = reason or message


#: What to tell the user when a plan expired (appended to the server's message).
PLAN_AGAIN_HINT = ("the plan is no longer valid; plan again: call imageflight.read_images() "
                   "or imageflight.iter_batches() again (or imageflight.get_plan() + "
                   "read_plan()/iter_plan()); in Spark, call "
                   "spark.read.format('imageflight')...load() again")


class ForkHelperLost(ImageFlightError):
    """The helper process that runs the Flight calls of a forked process (see
    ``imageflight._forkproxy``) died or dropped a call: it was killed, or its owner is
    shutting down. Not a server failure: the endpoint is neither failed over nor resumed."""


class StallTimeout(Unavailable):
    """A location sent nothing (no schema, no batch) for ``stall_timeout`` seconds: it is
    treated as hung, its stream is cancelled and the endpoint fails over / resumes."""


# FAILED_PRECONDITION as pyarrow reports it (checked with pyarrow 26.0.1 against the Go
# server, test/python/test_plan_expired.py): an ArrowInvalid -- the same class as
# INVALID_ARGUMENT -- with no status detail reachable from Python, so the code is read
# from the message. Arrow C++ (flight/transport/grpc/util_internal.cc) words it
#   "gRPC returned precondition failed error, with message: <msg>. gRPC client debug
#    context: FAILED_PRECONDITION:<msg>. Client context: ..."
# whereas INVALID_ARGUMENT reads "Flight returned invalid argument error, with message: ..."
# ("... debug context: INVALID_ARGUMENT:...").
_PRECONDITION_PREFIX = "grpc returned precondition failed error"
_DEBUG_CONTEXT = "grpc client debug context: "
# The server's own wording, the last resort if a pyarrow version words the code differently.
_PLAN_AGAIN_MARKER = "call getflightinfo again"
# Codes pyarrow names in its message prefix / gRPC debug context that are NOT the one above.
_OTHER_CODE_PREFIXES = ("flight returned ", "grpc returned ")


def _is_plan_expired(err: BaseException) -> bool:
    """True if ``err`` is the server's FAILED_PRECONDITION (expired ticket / plan gone).

    Decided by the status code pyarrow spells out (message prefix or gRPC debug context);
    only if neither names a code does the server's marker "call GetFlightInfo again" count.
    """
    if isinstance(err, PlanExpired):
        return True
    if isinstance(err, ImageFlightError) or not isinstance(err, Exception):
        return False
    text = str(err).strip().lower()
    if text.startswith(_PRECONDITION_PREFIX):
        return True
    i = text.find(_DEBUG_CONTEXT)
    if i >= 0:
        return text.startswith("failed_precondition:", i + len(_DEBUG_CONTEXT))
    if text.startswith(_OTHER_CODE_PREFIXES):
        return False  # another code, spelled out by pyarrow
    return _PLAN_AGAIN_MARKER in text


def _translate(err: BaseException, what: str) -> BaseException:
    """Maps a pyarrow/Flight exception to this module's exception types.

    pyarrow maps gRPC codes as follows: INVALID_ARGUMENT -> ArrowInvalid, NOT_FOUND ->
    ArrowKeyError, PERMISSION_DENIED -> FlightUnauthorizedError, UNAVAILABLE ->
    FlightUnavailableError, DEADLINE_EXCEEDED -> FlightTimedOutError, FAILED_PRECONDITION
    -> ArrowInvalid too (told apart by :func:`_is_plan_expired`). DoGet turns that into
    :class:`PlanExpired` (:func:`_plan_expired`); anywhere else it is a plain
    :class:`ImageFlightError`, not an InvalidArgument.
    """
    msg = f"{what}: {_clean(err)}"
    if isinstance(err, ImageFlightError):
        return err
    if _is_plan_expired(err):
        return ImageFlightError(msg)
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


def _plan_expired(err: BaseException, what: str, rows_received: int = 0) -> PlanExpired:
    """The :class:`PlanExpired` for a DoGet that got FAILED_PRECONDITION."""
    if isinstance(err, PlanExpired):
        return err
    after = f" after {rows_received} rows" if rows_received else ""
    reason = _clean(err)
    return PlanExpired(f"{what}{after}: {reason}; {PLAN_AGAIN_HINT}",
                       rows_received=rows_received, reason=reason)


def _clean(err: BaseException) -> str:
    # pyarrow appends ". Detail: ..." and gRPC debug strings; keep the useful head.
    text = str(err).strip()
    for marker in (". gRPC client debug context", "\ngRPC client debug context"):
        if marker in text:
            text = text.split(marker, 1)[0]
    return text
