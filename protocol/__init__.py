"""The PlaceOS control protocol's wire format: parse, validate, encode. No I/O."""

from protocol.codes import ErrorCode, http_status_for
from protocol.frames import (
    NULL,
    PONG,
    encode_debug,
    encode_error,
    encode_meta,
    encode_notify,
    encode_success,
    encode_value,
    notify_parts,
    text_frame_header,
    text_frames,
)
from protocol.requests import (
    MAX_FRAME_BYTES,
    Command,
    ParseFailure,
    Request,
    parse_request,
    validate_request,
)
from protocol.rest import failure_envelope
from protocol.slug import module_slug, parse_module_slug

__all__ = [
    "MAX_FRAME_BYTES",
    "NULL",
    "PONG",
    "Command",
    "ErrorCode",
    "ParseFailure",
    "Request",
    "encode_debug",
    "encode_error",
    "encode_meta",
    "encode_notify",
    "encode_success",
    "encode_value",
    "failure_envelope",
    "http_status_for",
    "module_slug",
    "notify_parts",
    "parse_module_slug",
    "parse_request",
    "text_frame_header",
    "text_frames",
    "validate_request",
]
