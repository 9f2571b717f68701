"""Module settings that point our drivers at a running emulator.

The emulators know nothing of our drivers: each exposes its base URL, the CA file to trust and
the credentials it accepts in the vendor's own terms. This module turns those into the settings
layout of each driver (``calendar_config`` for Microsoft Graph, ``lineworks`` for LINE WORKS).
"""

from __future__ import annotations

from typing import Any

from fixtures.emulator_base import RunningEmulator

__all__ = ["graph_settings", "lineworks_settings"]


def graph_settings(emulator: RunningEmulator) -> dict[str, Any]:
    """Settings of ``drivers.microsoft.graph_api:GraphAPI`` for the Graph emulator's tenant.

    The service account and sender are the seeded tenant's app mailbox and no-reply mailbox.
    """
    credentials = emulator.credentials
    tenant = emulator.app_state
    return {
        "calendar_service_account": tenant.service_account,
        "calendar_config": {
            "tenant": credentials["tenant"],
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "graph_base_url": emulator.url,
            "login_base_url": emulator.url,
            "ca_file": str(emulator.ca_file),
        },
        "mailer_from": tenant.mailer_from,
    }


def lineworks_settings(emulator: RunningEmulator) -> dict[str, Any]:
    """Settings of ``drivers.lineworks.calendar:LineWorksCalendar`` for the LINE WORKS
    emulator (its service account, the key it made at start, its token route)."""
    credentials = emulator.credentials
    lineworks: dict[str, Any] = {
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
        "service_account": credentials["service_account"],
        "scope": "calendar",
        "api_base_url": emulator.url,
        "auth_url": credentials["token_url"],
        "ca_file": str(emulator.ca_file),
    }
    if "private_key_file" in credentials:
        lineworks["private_key_file"] = credentials["private_key_file"]
    return {"lineworks": lineworks}
