"""LINE WORKS Calendar driver: shared calendars and events through LINE WORKS API 2.0.

A thin driver: settings in, commands out. Authentication (service-account JWT), the HTTP
client, request validation and model mapping live in the modules beside this one. Events come
back in the same normalised shape as the Microsoft Graph driver's (``drivers.calendar.models``).

``connected`` follows the toolkit's health monitor (``drivers.vendor_client.health``): true once
a token was obtained and the API answered a call made with it; false when LINE WORKS cannot be
reached, refuses the credentials, or answers with repeated server errors. While false the driver
probes every ``probe_interval`` seconds; while true and idle, after ``connected_probe_interval``
seconds without an answer.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Any, ClassVar

import aiohttp

from drivers.lineworks.api import CalendarApi
from drivers.lineworks.auth import ServiceAccount, TokenProvider
from drivers.lineworks.client import MAX_CONCURRENT_REQUESTS, LineWorksClient
from drivers.lineworks.errors import LineWorksConfigError, LineWorksValidationError
from drivers.lineworks.mapping import calendar_from_personal, event_component, event_from_lineworks
from drivers.lineworks.settings import (
    DEFAULT_API_BASE_URL,
    DEFAULT_AUTH_URL,
    DriverSettings,
    load_private_key,
    settings_schema,
)
from drivers.lineworks.validation import calendar_create_body, calendar_update_body
from drivers.vendor_client import HealthLifecycle, SlidingWindowLimiter
from runtime import Driver, Level, SettingsError, security

__all__ = ["LineWorksCalendar"]

CALENDAR_FIELDS = ("calendarId", "calendarName", "members", "description", "isPublic",
                   "calendarEmail", "type")


def _documented(calendar: dict[str, Any]) -> dict[str, Any]:
    """The documented fields of a LINE WORKS calendar object, in documentation order."""
    return {key: calendar[key] for key in CALENDAR_FIELDS if key in calendar}


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise LineWorksConfigError(f"lineworks.ca_file: cannot load {ca_file}: {exc}") from None
    return context


class LineWorksCalendar(Driver):
    """Calendars and events of a LINE WORKS tenant, through a service account."""

    generic_name = "Calendar"
    descriptive_name = "LINE WORKS Calendar"
    description = ("LINE WORKS API 2.0 calendars and events, authenticated as the Developer "
                   "Console app's service account (JWT, scope `calendar`).")
    default_settings: ClassVar[dict[str, Any]] = {
        "lineworks": {
            "client_id": "",
            "client_secret": "",
            "service_account": "",
            "private_key_file": "",
            "scope": "calendar",
            "api_base_url": DEFAULT_API_BASE_URL,
            "auth_url": DEFAULT_AUTH_URL,
        },
        "rate_limit": 5,
    }
    settings_schema: ClassVar[dict[str, Any] | None] = settings_schema()
    manages_connected = True

    _api: CalendarApi | None = None
    _session: aiohttp.ClientSession | None = None
    _unusable: tuple[type[ValueError], str] | None = None  # why there is no client
    _health: HealthLifecycle | None = None
    _probe_user: str = ""
    _probe_timeout: float = 5.0

    # -- lifecycle -------------------------------------------------------------------------

    async def on_update(self) -> None:
        """(Re)build the LINE WORKS client from the settings and check the connection.

        Settings that fail validation fail the hook with an error naming each bad key (never
        its value); a private key or CA file that cannot be used leaves the module loaded with
        ``connected`` false, and every command fails with the reason.
        """
        health = self._lifecycle()
        await self._shutdown()
        try:
            settings = self.settings_as(DriverSettings)
        except SettingsError as exc:
            self._unusable = (SettingsError, str(exc))
            health.stop(connected=False)
            raise
        try:
            self._build_client(settings, health)
        except LineWorksConfigError as exc:
            self._unusable = (LineWorksConfigError, str(exc))
            self.logger.error("LINE WORKS settings unusable", problem=str(exc))
            health.stop(connected=False)
            return
        self._unusable = None
        health.start()

    async def on_unload(self) -> None:
        """Close the HTTP session and stop probing."""
        await self._shutdown()

    def _build_client(self, settings: DriverSettings, health: HealthLifecycle) -> None:
        config = settings.lineworks
        account = ServiceAccount(
            client_id=config.client_id,
            client_secret=config.client_secret,
            service_account=config.service_account,
            private_key=load_private_key(config),
            scope=config.scope,
        )
        connector = aiohttp.TCPConnector(ssl=_ssl_context(config.ca_file))
        self._session = aiohttp.ClientSession(connector=connector)
        tokens = TokenProvider(account, config.auth_url, self._session,
                               timeout=settings.request_timeout)
        client = LineWorksClient(
            api_base_url=config.api_base_url,
            tokens=tokens,
            session=self._session,
            limiter=SlidingWindowLimiter(settings.rate_limit,
                                         max_in_flight=MAX_CONCURRENT_REQUESTS),
            health=health.replace(self._probe, settings.health_timings()),
            retry=settings.retry_policy(),
            logger=self.logger,
            timeout=settings.request_timeout,
        )
        self._api = CalendarApi(client)
        self._probe_user = config.service_account
        self._probe_timeout = settings.probe_timeout

    async def _shutdown(self) -> None:
        self._lifecycle().stop()
        self._api = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- connected -------------------------------------------------------------------------

    def _lifecycle(self) -> HealthLifecycle:
        if self._health is None:
            self._health = HealthLifecycle("LINE WORKS", self._publish_connected, self.schedule,
                                           logger=self.logger)
        return self._health

    def _publish_connected(self, connected: bool) -> None:
        self["connected"] = connected

    async def _probe(self) -> None:
        await self._require_api().probe(self._probe_user, self._probe_timeout)

    def _require_api(self) -> CalendarApi:
        if self._api is None:
            kind, reason = self._unusable or (LineWorksConfigError,
                                              "LINE WORKS client not started")
            raise kind(reason)
        return self._api

    # -- commands --------------------------------------------------------------------------

    def queue_size(self) -> int:
        """Requests waiting for a rate-limit permit."""
        return 0 if self._api is None else self._api.client.limiter.queue_size

    def in_flight_size(self) -> int:
        """Requests being sent or awaiting their answer."""
        return 0 if self._api is None else self._api.client.limiter.in_flight_size

    @security(Level.SUPPORT)
    async def create_calendar(self, calendar_name: str,
                              members: Sequence[dict[str, Any]] = (),
                              description: str | None = None,
                              is_public: bool = False) -> dict[str, Any]:
        """Create a shared calendar (``POST /calendars``); returns the created calendar."""
        body = calendar_create_body(calendar_name, members, description, is_public)
        return _documented(await self._require_api().create_calendar(body))

    @security(Level.SUPPORT)
    async def update_calendar(self, calendar_id: str, calendar_name: str | None = None,
                              members: Sequence[dict[str, Any]] | None = None,
                              description: str | None = None,
                              is_public: bool | None = None) -> dict[str, Any]:
        """Change a calendar's shared properties (``PATCH``); only given fields change."""
        body = calendar_update_body(calendar_name, members, description, is_public)
        return _documented(await self._require_api().update_calendar(calendar_id, body))

    @security(Level.SUPPORT)
    async def get_default_calendar(self, user_id: str) -> dict[str, Any]:
        """The user's default calendar (user id or login email)."""
        return _documented(await self._require_api().default_calendar(user_id))

    @security(Level.SUPPORT)
    async def list_calendars(self, user_id: str) -> list[dict[str, Any]]:
        """Every calendar the user has in their list (``id`` = LINE WORKS calendarId)."""
        api = self._require_api()
        default = await api.default_calendar(user_id)
        personals = await api.calendar_personals(user_id)
        default_id = default.get("calendarId")
        return [calendar_from_personal(p, default_calendar_id=default_id).to_json()
                for p in personals]

    @security(Level.SUPPORT)
    async def list_events(self, calendar_id: str, period_start: int, period_end: int,
                          user_id: str | None = None) -> list[dict[str, Any]]:
        """Events between two Unix times (periods over 31 days are fetched in windows).

        With ``user_id`` the calendar ``calendar_id`` is read as that user sees it; without
        it ``calendar_id`` names a user (id or login email) whose default calendar is read.
        """
        user, calendar = (user_id, calendar_id) if user_id else (calendar_id, None)
        components = await self._require_api().list_events(user, calendar, period_start,
                                                           period_end)
        return [event_from_lineworks(c, mailbox=user).to_json() for c in components]

    @security(Level.SUPPORT)
    async def create_event(
        self,
        title: str,
        event_start: int,
        event_end: int | None = None,
        description: str = "",
        attendees: Sequence[dict[str, Any] | str] | str = (),
        location: str | None = None,
        timezone: str | None = None,
        user_id: str | None = None,
        calendar_id: str | None = None,
        online_meeting_url: str | None = None,
        notify: bool = False,
    ) -> dict[str, Any]:
        """Create an event; without ``event_end`` it is an all-day event.

        ``user_id`` with ``calendar_id``: in that calendar as the user; ``user_id`` alone or
        ``calendar_id`` alone: in that user's default calendar. Attendees are emails or
        ``{name, email, response_status?, resource?}`` objects; a resource's ``email`` holds
        its LINE WORKS resource id. ``notify`` sets ``sendNotification``.
        """
        user = user_id or calendar_id
        if not user:
            raise LineWorksValidationError("user_id or calendar_id is required")
        calendar = calendar_id if user_id else None
        component = event_component(
            title=title, event_start=event_start, event_end=event_end,
            description=description, attendees=attendees, location=location,
            timezone=timezone, online_meeting_url=online_meeting_url)
        created = await self._require_api().create_event(user, calendar, component,
                                                         notify=notify)
        return event_from_lineworks(created, mailbox=user).to_json()

    @security(Level.SUPPORT)
    async def delete_event(self, calendar_id: str, event_id: str, user_id: str | None = None,
                           notify: bool = False) -> bool:
        """Delete an event (``calendar_id`` / ``user_id`` as in ``list_events``)."""
        user, calendar = (user_id, calendar_id) if user_id else (calendar_id, None)
        await self._require_api().delete_event(user, calendar, event_id, notify=notify)
        return True
