"""Errors raised by the Corral SDK.

Every error that comes from Corral (the master, the agent or the driver)
is a :class:`CorralError`; the subclass says what kind, and the message is
the one the master or the driver gave. Bad arguments to SDK functions raise
the usual ``TypeError``/``ValueError`` instead, naming the argument.
"""

from __future__ import annotations


class CorralError(Exception):
    """An error reported by Corral. ``code`` is the gRPC/absl status code."""

    code: int = 2  # UNKNOWN

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidCallError(CorralError):
    """The master refused a call as malformed; the message names the field."""

    code = 3


class NotFoundError(CorralError):
    """The call names something the master does not know (offer, task, framework)."""

    code = 5


class PermissionDeniedError(CorralError):
    """The caller may not make this call."""

    code = 7


class PreconditionError(CorralError):
    """The call is not possible in the current state: the driver is not
    running, not subscribed yet, or already started."""

    code = 9


class MasterError(CorralError):
    """The master ended the driver: it sent an ERROR event or refused the subscription."""

    code = 10


class UnsupportedCallError(CorralError):
    """The master does not support this call."""

    code = 12


class UnavailableError(CorralError):
    """The master could not be reached in time; the call may be retried."""

    code = 14


_BY_CODE: dict[int, type[CorralError]] = {
    3: InvalidCallError,
    4: UnavailableError,  # DEADLINE_EXCEEDED
    5: NotFoundError,
    7: PermissionDeniedError,
    16: PermissionDeniedError,  # UNAUTHENTICATED
    9: PreconditionError,
    10: MasterError,
    12: UnsupportedCallError,
    14: UnavailableError,
}


def error_for(code: int, message: str) -> CorralError:
    """The exception for a non-zero status code from the native layer."""
    return _BY_CODE.get(code, CorralError)(message, code)
