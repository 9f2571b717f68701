"""Settings of the Microsoft Graph driver: defaults, JSON schema and a typed view."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from drivers.vendor_client import ClientSettings

__all__ = ["DEFAULT_SETTINGS", "SETTINGS_SCHEMA", "CalendarConfig", "GraphSettings"]

GRAPH_BASE_URL = "https://graph.microsoft.com"
LOGIN_BASE_URL = "https://login.microsoftonline.com"


class CalendarConfig(BaseModel):
    """``calendar_config``: the app registration and where Graph and its login live."""

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    tenant: str = Field(default="", description="Microsoft Entra tenant id or domain")
    client_id: str = Field(default="", description="application (client) id")
    client_secret: str = Field(
        default="",
        description="client secret of the app registration",
        json_schema_extra={"format": "password", "writeOnly": True},
    )
    conference_type: str | None = Field(
        default=None, description='"teamsForBusiness" makes every created event a Teams meeting'
    )
    graph_base_url: str = Field(
        default=GRAPH_BASE_URL, description="Graph host (a national cloud, or a local emulator)"
    )
    login_base_url: str = Field(default=LOGIN_BASE_URL, description="token authority host")
    ca_file: str | None = Field(
        default=None,
        description="PEM file of the CA to trust instead of the system's (emulator, TLS proxy)",
    )


class GraphSettings(ClientSettings):
    """All settings the driver reads (rate limit, retries and probing: ``ClientSettings``);
    the driver validates them with ``Driver.settings_as``."""

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    calendar_service_account: str = Field(
        default="service_account@email.address",
        description="mailbox used when a command is given no user_id",
    )
    calendar_config: CalendarConfig = Field(default_factory=CalendarConfig)
    batch_requests: bool = Field(
        default=True, description="group concurrent requests into $batch calls"
    )
    mailer_from: str = Field(
        default="email_or_office_userPrincipalName",
        description="default sender of send_mail and send_template",
    )
    email_templates: dict[str, dict[str, dict[str, str]]] = Field(
        default_factory=lambda: {
            "visitor": {
                "checkin": {"subject": "%{name} has arrived", "text": "for your meeting at %{time}"}
            }
        },
        description="event_name -> notify_who -> {subject, text?, html?}",
    )


DEFAULT_SETTINGS: dict[str, Any] = {
    "calendar_service_account": "service_account@email.address",
    "calendar_config": {
        "tenant": "",
        "client_id": "",
        "client_secret": "",
        "conference_type": None,
        "graph_base_url": GRAPH_BASE_URL,
        "login_base_url": LOGIN_BASE_URL,
    },
    "rate_limit": 5,
    "batch_requests": True,
    "mailer_from": "email_or_office_userPrincipalName",
    "email_templates": {
        "visitor": {
            "checkin": {"subject": "%{name} has arrived", "text": "for your meeting at %{time}"}
        }
    },
}

SETTINGS_SCHEMA: dict[str, Any] = GraphSettings.model_json_schema()
