"""App-only (client credentials) access tokens for Microsoft Graph, through MSAL.

MSAL is synchronous, so every call into it runs in a worker thread. Tokens are cached here and
renewed shortly before they expire, or at once when Graph rejects one (``invalidate``).

Talking to a non-Microsoft authority (the local Graph emulator, a national cloud behind a
proxy) needs two things from MSAL: ``instance_discovery=False`` so it does not ask
login.microsoftonline.com whether the authority is known, and, for a private CA, an HTTP
client whose ``verify`` is that CA. ``requests`` lets the ``REQUESTS_CA_BUNDLE`` /
``CURL_CA_BUNDLE`` environment variables override a session's ``verify`` unless
``trust_env`` is off, so the session built for a CA file turns it off.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msal
import requests

from .errors import GraphAuthError, GraphConfigError, GraphConnectionError

__all__ = ["AccessToken", "GraphTokenProvider"]

RENEW_MARGIN_MAX = 300.0
TOKEN_TIMEOUT = 15.0


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and when it stops being valid (UTC)."""

    token: str = field(repr=False)
    expires_at: datetime
    lifetime: float

    def renew_due(self, now: datetime | None = None) -> bool:
        """True once the token is close enough to expiry that a new one should be fetched."""
        margin = min(RENEW_MARGIN_MAX, self.lifetime / 10)
        current = now or datetime.now(UTC)
        return current >= self.expires_at - timedelta(seconds=margin)


AppFactory = Callable[[], Any]


class _TimeoutSession(requests.Session):
    """A requests session with a default timeout (MSAL passes none to an injected client)."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", TOKEN_TIMEOUT)
        return super().request(*args, **kwargs)


class GraphTokenProvider:
    """Fetches, caches and renews the client-credentials token for one app registration."""

    def __init__(
        self,
        *,
        tenant: str,
        client_id: str,
        client_secret: str,
        login_base_url: str,
        scope: str,
        ca_file: str | None = None,
        app_factory: AppFactory | None = None,
    ) -> None:
        self.tenant = tenant
        self.client_id = client_id
        self.authority = f"{login_base_url.rstrip('/')}/{tenant}"
        self.scope = scope
        self._client_secret = client_secret
        self._ca_file = ca_file
        self._app_factory = app_factory or self._build_app
        self._app: Any = None
        self._http: requests.Session | None = None
        self._current: AccessToken | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"GraphTokenProvider(authority={self.authority!r}, client_id={self.client_id!r})"

    def same_identity(self, other: GraphTokenProvider) -> bool:
        """Whether ``other`` would fetch the same tokens (so this one's cache can be kept)."""
        return (
            self.authority == other.authority
            and self.client_id == other.client_id
            and self.scope == other.scope
            and self._client_secret == other._client_secret
            and self._ca_file == other._ca_file
        )

    @property
    def current(self) -> AccessToken | None:
        """The cached token, if any (possibly due for renewal)."""
        return self._current

    async def token(self) -> AccessToken:
        """A valid token: the cached one, or a new one when it is missing or about to expire."""
        current = self._current
        if current is not None and not current.renew_due():
            return current
        async with self._lock:
            current = self._current
            if current is not None and not current.renew_due():
                return current
            fresh = await asyncio.to_thread(self._acquire)
            self._current = fresh
            return fresh

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (Graph answered 401 to it) so the next call fetches a new one."""
        current = self._current
        if current is not None and current.token == token:
            self._current = None
            self._forget_msal_tokens()

    def close(self) -> None:
        """Release the HTTP session MSAL uses."""
        if self._http is not None:
            self._http.close()
            self._http = None
        self._app = None

    def _build_app(self) -> Any:
        self._check_credentials()
        session = _TimeoutSession()
        if self._ca_file:
            _check_ca_file(self._ca_file)
            session.verify = self._ca_file
            session.trust_env = False
        self._http = session
        return msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self._client_secret,
            authority=self.authority,
            http_client=session,
            instance_discovery=False,
        )

    def _check_credentials(self) -> None:
        missing = [
            name
            for name, value in (
                ("tenant", self.tenant),
                ("client_id", self.client_id),
                ("client_secret", self._client_secret),
            )
            if not value
        ]
        if missing:
            raise GraphAuthError(
                "calendar_config is missing " + ", ".join(missing) + ": cannot request a token"
            )

    def _acquire(self) -> AccessToken:
        """Blocking: build the MSAL app if needed and get a token (runs in a worker thread)."""
        try:
            if self._app is None:
                self._app = self._app_factory()
            started = time.time()
            result = self._app.acquire_token_for_client(scopes=[self.scope])
        except (GraphAuthError, GraphConfigError):
            raise
        except requests.RequestException as error:
            self._app = None
            raise GraphConnectionError(
                f"token endpoint unreachable ({self.authority}): {type(error).__name__}"
            ) from None
        except ValueError as error:
            self._app = None
            raise GraphAuthError(f"error fetching token: {error}") from None
        if not isinstance(result, dict) or "access_token" not in result:
            raise GraphAuthError(_describe_token_error(result))
        lifetime = float(result.get("expires_in") or 3600)
        expires_at = datetime.fromtimestamp(started, UTC) + timedelta(seconds=lifetime)
        return AccessToken(token=str(result["access_token"]), expires_at=expires_at,
                           lifetime=lifetime)

    def _forget_msal_tokens(self) -> None:
        app = self._app
        if app is None:
            return
        cache = app.token_cache
        for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(item)


def _describe_token_error(result: Any) -> str:
    if not isinstance(result, dict):
        return "error fetching token: unexpected response from the token endpoint"
    error = result.get("error") or "unknown_error"
    description = str(result.get("error_description") or "").splitlines()
    first_line = description[0] if description else ""
    return f"error fetching token: {error}: {first_line}".rstrip(": ")


def _check_ca_file(path: str) -> None:
    """Refuse a ``ca_file`` that cannot be loaded, naming the setting (requests would only say
    it found no CA bundle)."""
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as error:
        detail = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise GraphConfigError(f"calendar_config.ca_file: cannot load {path}: {detail}") from None
