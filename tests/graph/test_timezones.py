"""Windows -> IANA time-zone names against CLDR's windowsZones data.

The reference is Babel's copy of the CLDR supplemental data (``windows_zone_mapping`` is read by
Babel's CLDR importer from ``common/supplemental/windowsZones.xml``, territory "001"), a
generation of the same file independent of the table the driver uses.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from babel.core import get_global

from drivers.microsoft.timezones import WINDOWS_TO_IANA, iana_name, zone

CLDR_WINDOWS_ZONES: dict[str, str] = dict(get_global("windows_zone_mapping"))


def test_the_mapping_is_cldr_windows_zones_territory_001() -> None:
    assert len(CLDR_WINDOWS_ZONES) > 130
    assert dict(WINDOWS_TO_IANA) == CLDR_WINDOWS_ZONES


@pytest.mark.parametrize("windows_name", sorted(CLDR_WINDOWS_ZONES))
def test_every_windows_zone_resolves_to_its_cldr_zone(windows_name: str) -> None:
    expected = CLDR_WINDOWS_ZONES[windows_name]
    if windows_name == "UTC":  # Etc/UTC, spelt "UTC" as Graph and PlaceOS write it
        expected = "UTC"
    assert iana_name(windows_name) == expected
    assert iana_name(windows_name.upper()) == expected
    assert zone(windows_name) == ZoneInfo(expected)


def test_names_graph_uses_every_day() -> None:
    assert iana_name("Pacific Standard Time") == "America/Los_Angeles"
    assert iana_name("W. Europe Standard Time") == "Europe/Berlin"
    assert iana_name("Tokyo Standard Time") == "Asia/Tokyo"
    assert iana_name("Asia/Kolkata") == "Asia/Kolkata"  # IANA names pass through
    assert iana_name("tzone://Microsoft/Custom") == "UTC"
    assert iana_name("UTC") == "UTC" and iana_name(None) == "UTC"
