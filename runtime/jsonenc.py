"""JSON encoding of status and return values (orjson, with pydantic models and enums)."""

from __future__ import annotations

from enum import Enum
from typing import Any

import orjson
from pydantic import BaseModel

#: orjson options of every encoding here (hot paths call `orjson.dumps(value, default=default,
#: option=OPTIONS)` themselves: a Python call less per value).
OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def default(value: Any) -> Any:
    """What orjson cannot encode by itself: pydantic models, enums, sets, tuples, dates."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    """Encode `value`; raises TypeError when it is not JSON-serialisable."""
    return orjson.dumps(value, default=default, option=OPTIONS)

