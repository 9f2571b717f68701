"""The LINE WORKS calendar endpoints the driver uses, as plain async methods.

Paths follow API 2.0: shared calendars under ``/calendars``, a user's view under
``/users/{userId}/...``. Without a ``calendar_id`` the user's default calendar routes
(``/users/{userId}/calendar/events``) are used.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from drivers.lineworks.client import LineWorksClient, api_path
from drivers.lineworks.errors import LineWorksAuthError, LineWorksError
from drivers.lineworks.timerange import format_query_time, split_range

__all__ = ["CalendarApi", "events_path"]


def events_path(user_id: str, calendar_id: str | None, *rest: str) -> str:
    """``/v1.0/users/{u}/calendar/events...`` or ``/v1.0/users/{u}/calendars/{c}/events...``."""
    if calendar_id:
        return api_path("users", user_id, "calendars", calendar_id, "events", *rest)
    return api_path("users", user_id, "calendar", "events", *rest)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _event_key(component: dict[str, Any]) -> str:
    return json.dumps([component.get("eventId"), component.get("recurringEventId"),
                       component.get("start")], sort_keys=True, default=str)


class CalendarApi:
    """Calendar and event calls over one ``LineWorksClient``."""

    def __init__(self, client: LineWorksClient) -> None:
        self.client = client

    async def create_calendar(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /calendars``: a new shared calendar (201 with the calendar)."""
        return dict(await self.client.request("POST", api_path("calendars"), json=body) or {})

    async def update_calendar(self, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /calendars/{calendarId}``: only the fields in ``body`` change."""
        path = api_path("calendars", calendar_id)
        return dict(await self.client.request("PATCH", path, json=body) or {})

    async def default_calendar(self, user_id: str) -> dict[str, Any]:
        """``GET /users/{userId}/calendar``: the user's default calendar."""
        path = api_path("users", user_id, "calendar")
        return dict(await self.client.request("GET", path) or {})

    async def calendar_personals(self, user_id: str) -> list[dict[str, Any]]:
        """``GET /users/{userId}/calendar-personals``, every page."""
        return await self.client.paginate(api_path("users", user_id, "calendar-personals"),
                                          "calendarPersonals")

    async def list_events(self, user_id: str, calendar_id: str | None, start: int,
                          end: int) -> list[dict[str, Any]]:
        """Event components in ``start..end``, one request per window of at most 31 days.

        An event that overlaps two windows is returned once.
        """
        path = events_path(user_id, calendar_id)
        windows = split_range(start, end)
        bodies = await asyncio.gather(*(
            self.client.request("GET", path, params={
                "fromDateTime": format_query_time(window_start),
                "untilDateTime": format_query_time(window_end),
            }) for window_start, window_end in windows))
        seen: set[str] = set()
        components: list[dict[str, Any]] = []
        for body in bodies:
            for entry in (body or {}).get("events") or []:
                for component in entry.get("eventComponents") or []:
                    key = _event_key(component)
                    if key not in seen:
                        seen.add(key)
                        components.append(component)
        return components

    async def create_event(self, user_id: str, calendar_id: str | None,
                           component: dict[str, Any], *, notify: bool) -> dict[str, Any]:
        """``POST .../events``; returns the created event component."""
        body = {"eventComponents": [component], "sendNotification": notify}
        answer = await self.client.request("POST", events_path(user_id, calendar_id), json=body)
        created = (answer or {}).get("eventComponents") if isinstance(answer, dict) else None
        if not created:
            raise LineWorksError(502, "INVALID_RESPONSE",
                                 "the created event was not returned",
                                 context=f"POST {events_path(user_id, calendar_id)}")
        return dict(created[0])

    async def delete_event(self, user_id: str, calendar_id: str | None, event_id: str, *,
                           notify: bool) -> None:
        """``DELETE .../events/{eventId}?sendNotification=..`` (204)."""
        await self.client.request("DELETE", events_path(user_id, calendar_id, event_id),
                                  params={"sendNotification": _flag(notify)})

    async def probe(self, user_id: str, timeout: float | None = None) -> None:
        """One cheap authenticated call, not retried; any answer but 401 / 5xx shows LINE WORKS
        is usable."""
        try:
            await self.client.request("GET", api_path("users", user_id, "calendar"),
                                      retries=False, timeout=timeout)
        except LineWorksAuthError:
            raise
        except LineWorksError as exc:
            if exc.status >= 500:
                raise
