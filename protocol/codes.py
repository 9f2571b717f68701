"""The eight PlaceOS error codes, their names, and how REST maps them to HTTP statuses."""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """Error codes carried in the `error_code` field of an error frame."""

    PARSE_ERROR = 0
    BAD_REQUEST = 1
    ACCESS_DENIED = 2
    REQUEST_FAILED = 3
    UNKNOWN_COMMAND = 4
    SYSTEM_NOT_FOUND = 5
    MODULE_NOT_FOUND = 6
    UNEXPECTED_FAILURE = 7

    @property
    def wire_name(self) -> str:
        """The snake_case name PlaceOS uses, e.g. `request_failed`."""
        return self.name.lower()

    @property
    def rest_name(self) -> str:
        """The name REST puts in the envelope's `error`, e.g. `request failed`."""
        return self.name.lower().replace("_", " ")


_FIXED_HTTP_STATUS = {
    ErrorCode.PARSE_ERROR: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNKNOWN_COMMAND: 400,
    ErrorCode.ACCESS_DENIED: 401,
    ErrorCode.SYSTEM_NOT_FOUND: 404,
    ErrorCode.MODULE_NOT_FOUND: 404,
}


def http_status_for(code: ErrorCode, driver_code: int | None = None) -> int:
    """HTTP status of a REST failure: fixed per code, or the driver's code for 3 and 7."""
    fixed = _FIXED_HTTP_STATUS.get(code)
    if fixed is not None:
        return fixed
    return driver_code if driver_code is not None else 500
