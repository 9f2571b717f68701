"""Windows time-zone names (as Microsoft Graph reports them) mapped to IANA zones.

Graph labels event times and recurrence ranges with Windows zone names such as
``"AUS Eastern Standard Time"``. The mapping is the "001" (default territory) column of the
Unicode CLDR ``windowsZones`` supplemental data, as generated from ``windowsZones.xml`` into
``tzlocal.windows_tz.win_tz`` (the same table the Graph emulator uses). CLDR's zone ids are IANA
names; a few are IANA's older spellings (``Asia/Calcutta``), which every tz database still
resolves.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

__all__ = ["WINDOWS_TO_IANA", "iana_name", "zone"]

DEFAULT_ZONE = "UTC"

#: Windows zone name -> IANA zone name (CLDR windowsZones, territory "001").
WINDOWS_TO_IANA = MappingProxyType(dict(win_tz))

_LOWER_WINDOWS = {name.lower(): iana for name, iana in WINDOWS_TO_IANA.items()}


@lru_cache(maxsize=512)
def iana_name(name: str | None, default: str = DEFAULT_ZONE) -> str:
    """The IANA name for a Windows or IANA zone name; ``default`` when unknown or empty.

    ``"UTC"`` stays ``"UTC"`` (rather than ``Etc/UTC``) because that is how Graph and PlaceOS
    spell it in event output.
    """
    if not name:
        return default
    name = name.strip()
    if name.upper() in ("UTC", "GMT", "Z", "ETC/UTC"):
        return "UTC"
    mapped = _LOWER_WINDOWS.get(name.lower())
    candidate = mapped if mapped is not None else name
    try:
        ZoneInfo(candidate)
    except (ZoneInfoNotFoundError, ValueError):
        return default
    return candidate


def zone(name: str | None, default: str = DEFAULT_ZONE) -> ZoneInfo:
    """A ``ZoneInfo`` for a Windows or IANA zone name (``default`` when unknown)."""
    return ZoneInfo(iana_name(name, default))
