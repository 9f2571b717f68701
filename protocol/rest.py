"""The REST failure envelope."""

from __future__ import annotations

from typing import Any

import orjson

from protocol.codes import ErrorCode, http_status_for


def failure_envelope(
    code: ErrorCode,
    message: str,
    sys_id: str,
    module_name: str,
    index: int,
    backtrace: list[str] | None = None,
    driver_code: int | None = None,
) -> tuple[int, bytes]:
    """HTTP status and body of a failed REST exec.

    The body always has every key (`backtrace` is null for errors raised before the driver ran),
    as PlaceOS renders a named tuple.
    """
    body: dict[str, Any] = {
        "error": code.rest_name,
        "sys_id": sys_id,
        "module_name": module_name,
        "index": index,
        "message": message,
        "backtrace": backtrace,
    }
    return http_status_for(code, driver_code), orjson.dumps(body)
