"""Who is calling: API keys with a clearance, or a JWT whose admin / support claims set it.

Credentials are looked for where PlaceOS looks: `X-API-Key` header, `api-key` query or cookie;
then `Authorization: Bearer|Token`, `bearer_token` query or cookie. A bearer value that is a
configured API key is accepted as that key, so clients that only know `setToken` work too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
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
        for entry in config.api_keys:
            name = entry.name or f"api key {entry.key[:4]}…"
            self._keys[_digest(entry.key)] = Principal(name, Clearance.parse(entry.clearance))
        for number, key in enumerate(admin_keys or [], 1):
            self._keys[_digest(key)] = Principal(f"admin key {number}", Clearance.ADMIN)
        self._jwt = config.jwt
        self._jwt_key, self._jwt_algorithms = _jwt_verifier(config.jwt)

    @property
    def has_credentials(self) -> bool:
        """Whether any key or JWT verifier is configured."""
        return bool(self._keys) or self._jwt_key is not None

    def add_key(self, key: str, principal: Principal) -> None:
        """Accept one more API key."""
        self._keys[_digest(key)] = principal

    def authenticate(self, request: web.BaseRequest) -> Principal:
        """The caller of `request`; raises AuthError with a reason."""
        api_key = (
            request.headers.get("X-API-Key")
            or request.query.get("api-key")
            or request.cookies.get("api-key")
        )
        if api_key:
            return self._by_key(api_key)
        bearer = _bearer(request)
        if bearer:
            principal = self._keys.get(_digest(bearer))
            return principal if principal is not None else self._by_jwt(bearer)
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
        return Principal(_claim_name(claims), _claim_clearance(claims))


def _bearer(request: web.BaseRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    for prefix in ("Bearer ", "Token "):
        if header.startswith(prefix):
            return header[len(prefix) :].strip() or None
    return request.query.get("bearer_token") or request.cookies.get("bearer_token")


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
