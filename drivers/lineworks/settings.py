"""The LINE WORKS driver's settings: schema, defaults, and loading the service-account key.

The driver validates them with ``Driver.settings_as(DriverSettings)``, whose error names each bad
key and rule only, so a bad setting never echoes its value (which may be the private key or the
client secret).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import BaseModel, ConfigDict, Field

from drivers.lineworks.errors import LineWorksConfigError
from drivers.vendor_client import ClientSettings

__all__ = [
    "DEFAULT_API_BASE_URL",
    "DEFAULT_AUTH_URL",
    "DriverSettings",
    "LineWorksSettings",
    "load_private_key",
    "settings_schema",
]

DEFAULT_API_BASE_URL = "https://www.worksapis.com"
DEFAULT_AUTH_URL = "https://auth.worksmobile.com/oauth2/v2.0/token"


class LineWorksSettings(BaseModel):
    """The ``lineworks`` block: the Developer Console app and its service account."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    client_id: str = Field(min_length=1, description="Client ID of the Developer Console app")
    client_secret: str = Field(min_length=1, description="Client Secret of the app")
    service_account: str = Field(
        min_length=1, description="Service account ID (ends with 'serviceaccount')")
    private_key: str | None = Field(
        default=None, description="the service account's private key, PEM text")
    private_key_file: str | None = Field(
        default=None, description="path of a PEM file holding the private key")
    scope: str = Field(default="calendar", description="scope(s) requested with each token")
    api_base_url: str = Field(default=DEFAULT_API_BASE_URL, description="API 2.0 base URL")
    auth_url: str = Field(default=DEFAULT_AUTH_URL, description="token endpoint URL")
    ca_file: str | None = Field(default=None, description="extra CA certificate (PEM) to trust")


class DriverSettings(ClientSettings):
    """Every setting the driver reads (rate limit, retries and probing: ``ClientSettings``)."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    lineworks: LineWorksSettings


def settings_schema() -> dict[str, Any]:
    """JSON schema of the settings (exported as the driver's metadata ``json_schema``)."""
    return DriverSettings.model_json_schema()


def load_private_key(settings: LineWorksSettings) -> RSAPrivateKey:
    """The RSA private key from ``private_key`` (PEM text) or ``private_key_file``."""
    if settings.private_key:
        pem = settings.private_key.encode()
        source = "lineworks.private_key"
    elif settings.private_key_file:
        path = Path(settings.private_key_file).expanduser()
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise LineWorksConfigError(
                f"lineworks.private_key_file: cannot read {path}: {exc.strerror}") from None
        source = f"lineworks.private_key_file ({path})"
    else:
        raise LineWorksConfigError(
            "invalid LINE WORKS settings: lineworks.private_key or "
            "lineworks.private_key_file is required")
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, RSAPrivateKey):
        raise LineWorksConfigError(
            f"{source} is not an unencrypted PEM RSA private key (PKCS#8 or PKCS#1)")
    return key
