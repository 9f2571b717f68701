"""Who is calling: API keys with a clearance, or a JWT whose admin / support claims set it.

Credentials are looked for where PlaceOS looks: `X-API-Key` header, `api-key` query or cookie;
then `Authorization: Bearer|Token`, `bearer_token` query or cookie. A bearer value that is a
configured API key is accepted as that key, so clients that only know `setToken` work too.
Where the credential came from is reported beside the caller: a cookie is sent by browsers on
their own, so the origin rule (`runtime.origins`) applies to cookie-authenticated requests only.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt
from aiohttp import web

from runtime.config import AuthConfig, JwtConfig
from runtime.security import Clearance


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    name: str
    clearance: Clearance
    #: Identifies the credential (never the credential itself): limits are counted per key.
    key_id: str = ""

    @property
    def credential(self) -> str:
        """What per-credential limits count by: the key (or JWT subject), else the name."""
        return self.key_id or self.name


class Source(StrEnum):
    """Where a request carried its credential."""

    HEADER = "header"
    QUERY = "query"
    COOKIE = "cookie"


#: Where the gate leaves the authenticated caller on a request.
PRINCIPAL_KEY = web.RequestKey("principal", Principal)


class AuthError(Exception):
    """No credential, or a bad one."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def generate_api_key() -> str:
    """A fresh random API key (hex, so it never starts with `-` and reads as an option)."""
    return secrets.token_hex(24)


class Authenticator:
    """Checks the credentials of HTTP and WebSocket requests."""

    def __init__(self, config: AuthConfig, admin_keys: list[str] | None = None) -> None:
        self._keys: dict[bytes, Principal] = {}
        for number, entry in enumerate(config.api_keys, 1):
            name = entry.name or f"api key {number}"
            self.add_key(entry.key, Principal(name, Clearance.parse(entry.clearance)))
        for number, key in enumerate(admin_keys or [], 1):
            self.add_key(key, Principal(f"admin key {number}", Clearance.ADMIN))
        self._jwt = config.jwt
        self._jwt_key, self._jwt_algorithms = _jwt_verifier(config.jwt)

    @property
    def has_credentials(self) -> bool:
        """Whether any key or JWT verifier is configured."""
        return bool(self._keys) or self._jwt_key is not None

    def add_key(self, key: str, principal: Principal) -> None:
        """Accept one more API key."""
        digest = _digest(key)
        if not principal.key_id:
            principal = Principal(principal.name, principal.clearance, "key:" + digest[:8].hex())
        self._keys[digest] = principal

    def authenticate(self, request: web.BaseRequest) -> Principal:
        """The caller of `request`; raises AuthError with a reason."""
        return self.identify(request)[0]

    def identify(self, request: web.BaseRequest) -> tuple[Principal, Source]:
        """The caller of `request` and where its credential was; raises AuthError."""
        api_key, source = _first(
            (request.headers.get("X-API-Key"), Source.HEADER),
            (request.query.get("api-key"), Source.QUERY),
            (request.cookies.get("api-key"), Source.COOKIE),
        )
        if api_key:
            return self._by_key(api_key), source
        bearer, source = _bearer(request)
        if bearer:
            principal = self._keys.get(_digest(bearer))
            return (principal if principal is not None else self._by_jwt(bearer)), source
        raise AuthError("missing credentials: send an API key or a bearer token")

    def _by_key(self, key: str) -> Principal:
        principal = self._keys.get(_digest(key))
        if principal is None:
            raise AuthError("unknown API key")
        return principal

    def _by_jwt(self, token: str) -> Principal:
        if self._jwt_key is None or self._jwt is None:
            raise AuthError("unknown bearer token")
        try:
            claims = jwt.decode(
                token,
                self._jwt_key,
                algorithms=self._jwt_algorithms,
                audience=self._jwt.audience,
                issuer=self._jwt.issuer,
                options={"require": ["exp"], "verify_aud": self._jwt.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid bearer token: {exc}") from None
        subject = f"jwt:{claims.get('iss', '')}:{claims.get('sub', '')}"
        return Principal(_claim_name(claims), _claim_clearance(claims), subject)


def _first(*candidates: tuple[str | None, Source]) -> tuple[str | None, Source]:
    for value, source in candidates:
        if value:
            return value, source
    return None, Source.HEADER


def _bearer(request: web.BaseRequest) -> tuple[str | None, Source]:
    header = request.headers.get("Authorization", "")
    for prefix in ("Bearer ", "Token "):
        if header.startswith(prefix):
            return header[len(prefix) :].strip() or None, Source.HEADER
    return _first(
        (request.query.get("bearer_token"), Source.QUERY),
        (request.cookies.get("bearer_token"), Source.COOKIE),
    )


def _jwt_verifier(config: JwtConfig | None) -> tuple[str | None, list[str]]:
    if config is None:
        return None, []
    if config.secret:
        return config.secret, ["HS256"]
    public_key = config.public_key
    if public_key is None and config.public_key_file is not None:
        public_key = config.public_key_file.read_text()
    if public_key:
        return public_key, ["RS256"]
    return None, []


def _claims_with_user(claims: dict[str, Any]) -> list[dict[str, Any]]:
    user = claims.get("u")
    return [claims, user] if isinstance(user, dict) else [claims]


def _claim_clearance(claims: dict[str, Any]) -> Clearance:
    scopes = _claims_with_user(claims)
    if any(c.get("admin") is True for c in scopes):
        return Clearance.ADMIN
    if any(c.get("support") is True for c in scopes):
        return Clearance.SUPPORT
    return Clearance.USER


def _claim_name(claims: dict[str, Any]) -> str:
    user = claims.get("u")
    if isinstance(user, dict) and isinstance(user.get("n"), str):
        return str(user["n"])
    return str(claims.get("sub", "jwt user"))
