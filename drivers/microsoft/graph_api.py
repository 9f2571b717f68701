"""PlaceOS "Microsoft Graph API" driver (generic name ``Calendar``).

Commands, arguments and outputs follow PlaceOS's ``Microsoft::GraphAPI`` driver; the Graph
client beside this module adds real rate limiting, retries, paging and automatic ``$batch``.
``connected`` tracks Graph reachability and credential validity (``drivers.vendor_client.health``):
while it is false the driver probes Graph every ``probe_interval`` seconds; while it is true and
idle it probes after ``connected_probe_interval`` seconds without an answer.
"""

from __future__ import annotations

from typing import Any

from drivers.calendar import qr
from drivers.calendar.models import format_rfc3339
from drivers.calendar.templates import (
    TemplateArg,
    build_template,
    find_template,
    template_selector,
)
from drivers.vendor_client import HealthLifecycle, SlidingWindowLimiter
from runtime import Driver, Level, SettingsError, security

from . import graph_calendar, graph_directory
from .graph_auth import GraphTokenProvider
from .graph_client import GraphClient
from .graph_payloads import (
    AttendeeArg,
    MailAttachment,
    Recipients,
    ResourceAttachment,
    one_or_many,
    parse_attendees,
    recipient_list,
)
from .graph_settings import DEFAULT_SETTINGS, SETTINGS_SCHEMA, GraphSettings

__all__ = ["GraphAPI"]


class GraphAPI(Driver):
    """Microsoft Graph calendars, directory and mail for PlaceOS."""

    generic_name = "Calendar"
    descriptive_name = "Microsoft Graph API"
    description = (
        "Calendars, users, groups and mail of a Microsoft 365 tenant through Microsoft Graph "
        "(app-only access: Calendars.ReadWrite, Mail.Send, User.Read.All, Group.Read.All)."
    )
    default_settings = DEFAULT_SETTINGS
    settings_schema = SETTINGS_SCHEMA
    manages_connected = True

    _client: GraphClient | None = None
    _tokens: GraphTokenProvider | None = None
    _health: HealthLifecycle | None = None
    _rejected: str | None = None  # why the current settings cannot be used
    _settings: GraphSettings

    # -- lifecycle -------------------------------------------------------------------------

    async def on_load(self) -> None:
        self["connected"] = False
        await self.on_update()

    async def on_update(self) -> None:
        """Validate the settings and (re)build the Graph client; invalid settings stop the
        client and fail the hook with an error naming each bad key (never its value)."""
        health = self._lifecycle()
        try:
            settings = self.settings_as(GraphSettings)
        except SettingsError as error:
            self._rejected = str(error)
            health.stop(connected=False)
            await self._close_client()
            raise
        self._rejected = None
        self._settings = settings
        config = settings.calendar_config
        old_client, old_tokens = self._client, self._tokens
        tokens = GraphTokenProvider(
            tenant=config.tenant,
            client_id=config.client_id,
            client_secret=config.client_secret,
            login_base_url=config.login_base_url,
            scope=f"{config.graph_base_url.rstrip('/')}/.default",
            ca_file=config.ca_file,
        )
        if old_tokens is not None and old_tokens.same_identity(tokens):
            tokens = old_tokens
        self._tokens = tokens
        monitor = health.replace(self._probe, settings.health_timings())
        self._client = GraphClient(
            tokens=tokens,
            limiter=SlidingWindowLimiter(settings.rate_limit),
            graph_base_url=config.graph_base_url,
            ca_file=config.ca_file,
            batch_requests=settings.batch_requests,
            retry=settings.retry_policy(),
            health=monitor,
            request_timeout=settings.request_timeout,
            logger=self.logger,
        )
        if old_client is not None:
            await old_client.close(close_tokens=old_client.tokens is not tokens)
        health.start()

    async def on_unload(self) -> None:
        self._lifecycle().stop()
        await self._close_client()

    async def _close_client(self) -> None:
        client, self._client, self._tokens = self._client, None, None
        if client is not None:
            await client.close()

    # -- connection state ------------------------------------------------------------------

    def _lifecycle(self) -> HealthLifecycle:
        if self._health is None:
            self._health = HealthLifecycle("Microsoft Graph", self._publish_connected,
                                           self.schedule, logger=self.logger)
        return self._health

    def _publish_connected(self, connected: bool) -> None:
        self["connected"] = connected

    async def _probe(self) -> None:
        await self._graph().probe(self._settings.probe_timeout)

    def _graph(self) -> GraphClient:
        if self._client is None:
            if self._rejected is not None:
                raise SettingsError(self._rejected)
            raise RuntimeError("the Graph client is not running (module not loaded)")
        return self._client

    # -- limiter ---------------------------------------------------------------------------

    def queue_size(self) -> int:
        """Graph requests waiting for a rate-limit permit."""
        return self._graph().queue_size

    def in_flight_size(self) -> int:
        """Graph requests being sent now."""
        return self._graph().in_flight_size

    # -- QR codes --------------------------------------------------------------------------

    def generate_svg_qrcode(self, text: str) -> str:
        """SVG of a QR code encoding ``text``."""
        return qr.svg_qrcode(text)

    def generate_png_qrcode(self, text: str, size: int = 128) -> str:
        """Base64 PNG (``size`` x ``size``) of a QR code encoding ``text``."""
        return qr.png_qrcode(text, size)

    # -- mail ------------------------------------------------------------------------------

    def _sender(self, from_: Recipients | None) -> str:
        if isinstance(from_, str) and from_.strip():
            return from_.strip()
        if isinstance(from_, list) and from_:
            return str(from_[0])
        mailer_from = (self._settings.mailer_from or "").strip()
        return mailer_from or self._settings.calendar_service_account

    @security(Level.SUPPORT)
    async def send_mail(
        self,
        to: Recipients,
        subject: str,
        message_plaintext: str | None = None,
        message_html: str | None = None,
        resource_attachments: list[ResourceAttachment] | ResourceAttachment = (),  # type: ignore[assignment]
        attachments: list[MailAttachment] | MailAttachment = (),  # type: ignore[assignment]
        cc: Recipients = (),  # type: ignore[assignment]
        bcc: Recipients = (),  # type: ignore[assignment]
        from_: Recipients | None = None,
    ) -> bool:
        """Send an email (HTML when ``message_html`` is given, else plain text); one of
        ``message_plaintext`` and ``message_html`` is required."""
        if not message_plaintext and not message_html:
            raise ValueError("send_mail needs a body: give message_plaintext or message_html")
        return await graph_calendar.send_mail(
            self._graph(),
            sender=self._sender(from_),
            to=recipient_list(to),
            subject=subject,
            message_plaintext=message_plaintext,
            message_html=message_html,
            attachments=one_or_many(attachments),
            resource_attachments=one_or_many(resource_attachments),
            cc=recipient_list(cc),
            bcc=recipient_list(bcc),
        )

    async def send_template(
        self,
        to: Recipients,
        template: str | list[str],
        args: dict[str, TemplateArg],
        resource_attachments: list[ResourceAttachment] | ResourceAttachment = (),  # type: ignore[assignment]
        attachments: list[MailAttachment] | MailAttachment = (),  # type: ignore[assignment]
        cc: Recipients = (),  # type: ignore[assignment]
        bcc: Recipients = (),  # type: ignore[assignment]
        from_: Recipients | None = None,
    ) -> bool | None:
        """Send the ``email_templates`` entry ``[event_name, notify_who]`` filled with ``args``;
        null (and a warning) when there is no such template."""
        event_name, notify_who = template_selector(template)
        found = find_template(self._settings.email_templates, event_name, notify_who)
        if found is None:
            self.logger.warning(f"no template found with: {event_name}.{notify_who}")
            return None
        if "subject" not in found:
            raise ValueError(f"template {event_name}.{notify_who} has no subject")
        return await self.send_mail(
            to,
            build_template(found["subject"], args) or "",
            build_template(found.get("text"), args) or "",
            build_template(found.get("html"), args) or "",
            resource_attachments,
            attachments,
            cc,
            bcc,
            from_,
        )

    def build_template(self, string: str | None, args: dict[str, TemplateArg]) -> str | None:
        """``string`` with each ``%{key}`` replaced by its argument."""
        return build_template(string, args)

    # -- tokens ----------------------------------------------------------------------------

    @security(Level.ADMIN)
    async def access_token(self, user_id: str | None = None) -> dict[str, Any]:
        """The app's current Graph access token and when it expires (``user_id`` is unused)."""
        if user_id:
            self.logger.debug("access_token requested", user_id=user_id)
        self._graph()
        assert self._tokens is not None
        token = await self._tokens.token()
        return {"expires": format_rfc3339(token.expires_at), "token": token.token}

    # -- directory -------------------------------------------------------------------------

    @security(Level.SUPPORT)
    async def get_groups(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Groups the user (default: the service account) belongs to, transitively."""
        user = user_id or self._settings.calendar_service_account
        groups = await graph_directory.get_groups(self._graph(), user)
        return [group.to_json() for group in groups]

    @security(Level.SUPPORT)
    async def get_members(self, group_id: str) -> list[dict[str, Any]]:
        """Users in the group (id or email)."""
        members = await graph_directory.get_members(self._graph(), group_id)
        return [member.to_json() for member in members]

    @security(Level.SUPPORT)
    async def list_users(
        self, query: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Enabled users, filtered by name / mail prefix words, at most ``limit``."""
        users = await graph_directory.list_users(self._graph(), query, limit)
        return [user.to_json() for user in users]

    @security(Level.SUPPORT)
    async def get_user(self, user_id: str) -> dict[str, Any] | None:
        """A user by email / UPN (null when none) or by id."""
        user = await graph_directory.get_user(self._graph(), user_id)
        return user.to_json() if user is not None else None

    @security(Level.SUPPORT)
    async def list_calendars(self, user_id: str) -> list[dict[str, Any]]:
        """The calendars of a mailbox."""
        calendars = await graph_calendar.list_calendars(self._graph(), user_id)
        return [calendar.to_json() for calendar in calendars]

    @security(Level.SUPPORT)
    async def get_user_manager(self, user_id: str) -> dict[str, Any]:
        """The user's manager."""
        return (await graph_directory.get_user_manager(self._graph(), user_id)).to_json()

    @security(Level.SUPPORT)
    async def list_groups(self, query: str | None = None) -> list[dict[str, Any]]:
        """Groups, optionally those whose name starts with ``query``."""
        groups = await graph_directory.list_groups(self._graph(), query)
        return [group.to_json() for group in groups]

    @security(Level.SUPPORT)
    async def get_group(self, group_id: str) -> dict[str, Any]:
        """A group by id (or email)."""
        return (await graph_directory.get_group(self._graph(), group_id)).to_json()

    # -- events ----------------------------------------------------------------------------

    @security(Level.SUPPORT)
    async def list_events(
        self,
        calendar_id: str,
        period_start: int,
        period_end: int,
        time_zone: str | None = None,
        user_id: str | None = None,
        include_cancelled: bool = False,
    ) -> list[dict[str, Any]]:
        """Events of the mailbox ``calendar_id`` between two Unix times."""
        events = await graph_calendar.list_events(
            self._graph(), calendar_id, period_start, period_end,
            time_zone=time_zone, include_cancelled=include_cancelled,
        )
        return [event.to_json() for event in events]

    @security(Level.SUPPORT)
    async def delete_event(
        self,
        calendar_id: str,
        event_id: str,
        user_id: str | None = None,
        notify: bool = False,
        comment: str | None = None,
    ) -> bool:
        """Delete an event from the mailbox ``calendar_id``."""
        return await graph_calendar.delete_event(self._graph(), calendar_id, event_id)

    @security(Level.SUPPORT)
    async def decline_event(
        self,
        calendar_id: str,
        event_id: str,
        user_id: str | None = None,
        notify: bool = False,
        comment: str | None = None,
    ) -> bool:
        """Decline an event (cancel it when the mailbox is its organiser)."""
        return await graph_calendar.decline_event(
            self._graph(), calendar_id, event_id, notify=notify, comment=comment
        )

    @security(Level.SUPPORT)
    async def create_event(
        self,
        title: str,
        event_start: int,
        event_end: int | None = None,
        description: str = "",
        attendees: list[AttendeeArg | str] | str = (),  # type: ignore[assignment]
        location: str | None = None,
        timezone: str | None = None,
        user_id: str | None = None,
        calendar_id: str | None = None,
        online_meeting_id: str | None = None,
        online_meeting_provider: str | None = None,
        online_meeting_url: str | None = None,
        online_meeting_sip: str | None = None,
        online_meeting_phones: list[str] | str | None = None,
        online_meeting_pin: str | None = None,
    ) -> dict[str, Any]:
        """Create an event (all-day when ``event_end`` is null) in ``calendar_id``'s calendar."""
        user_id = user_id or self._settings.calendar_service_account.strip() or calendar_id
        mailbox = calendar_id or user_id
        if not mailbox:
            raise ValueError("create_event needs a calendar_id or a user_id")
        provider = online_meeting_provider or self._settings.calendar_config.conference_type
        event = await graph_calendar.create_event(
            self._graph(),
            calendar_id=mailbox,
            title=title,
            event_start=event_start,
            event_end=event_end,
            description=description or "",
            attendees=parse_attendees(attendees),
            location=location,
            timezone=timezone,
            online_meeting_provider=provider,
        )
        return event.to_json()
