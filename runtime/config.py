"""The YAML config: servers, auth, modules and systems, validated with pydantic.

A bad file is refused with one message naming the file, the key path and the problem, e.g.
`config.yaml: systems.sys-1.modules[2]: unknown module 'mod-x'`.
"""

from __future__ import annotations

import importlib
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runtime.errors import ConfigError

if TYPE_CHECKING:
    from runtime.driver import Driver

DEFAULT_EXEC_TIMEOUT = 120.0
DEFAULT_LOAD_TIMEOUT = 30.0
DEFAULT_MAX_AUTH_FAILURES = 20
DEFAULT_AUTH_FAILURE_WINDOW = 60.0
DEFAULT_MAX_CONNECTIONS_PER_KEY = 1000
DEFAULT_SHUTDOWN_GRACE = 10.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    reload: bool = False
    log_format: Literal["json", "console"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_grace: float = Field(default=DEFAULT_SHUTDOWN_GRACE, ge=0)
    public_metrics: bool = False
    cors_origins: list[str] = []
    trusted_proxies: list[str] = []

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        for value in values:
            scheme, sep, rest = value.partition("://")
            if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
                raise ValueError(f"{value!r} is not an origin like 'https://app.example.com'")
        return [value.lower() for value in values]

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value, strict=False)  # ValueError names the bad entry
        return values


class ApiKeyConfig(_Strict):
    key: str = Field(min_length=8)
    clearance: Literal["user", "support", "admin"] = "user"
    name: str | None = None


class JwtConfig(_Strict):
    secret: str | None = None
    public_key: str | None = None
    public_key_file: Path | None = None
    audience: str | None = None
    issuer: str | None = None


class AuthConfig(_Strict):
    api_keys: list[ApiKeyConfig] = []
    jwt: JwtConfig | None = None
    max_failures: int = Field(default=DEFAULT_MAX_AUTH_FAILURES, ge=1)
    failure_window: float = Field(default=DEFAULT_AUTH_FAILURE_WINDOW, gt=0)
    max_connections_per_key: int = Field(default=DEFAULT_MAX_CONNECTIONS_PER_KEY, ge=1)


class ModuleConfig(_Strict):
    driver: str
    name: str | None = None
    settings: dict[str, Any] = {}
    exec_timeout: float = Field(default=DEFAULT_EXEC_TIMEOUT, gt=0)
    load_timeout: float = Field(default=DEFAULT_LOAD_TIMEOUT, gt=0)

    @field_validator("driver")
    @classmethod
    def _import_path(cls, value: str) -> str:
        module, sep, attr = value.partition(":")
        if not sep or not module or not attr:
            raise ValueError("expected an import path 'package.module:Class'")
        return value


class SystemConfig(_Strict):
    name: str
    description: str | None = None
    settings: dict[str, Any] = {}
    modules: list[str] = []


class ClusterConfig(_Strict):
    """`cluster:`: join the hosts sharing one Redis."""

    redis: str = Field(pattern=r"^rediss?://")
    node_uri: str = Field(pattern=r"^https?://[^/]+$")
    ttl: float = Field(default=6.0, gt=0)
    secret: str | None = Field(default=None, min_length=16)


class RuntimeConfig(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    modules: dict[str, ModuleConfig] = {}
    systems: dict[str, SystemConfig] = {}
    cluster: ClusterConfig | None = None


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def parse_config(data: Any, source: str = "<config>") -> RuntimeConfig:
    """Validate a decoded config; raises ConfigError naming `source`, key path and problem."""
    if data is None:
        data = {}
    try:
        config = RuntimeConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise ConfigError(f"{source}: {_location(err['loc'])}: {err['msg']}") from None
    for sys_id, system in config.systems.items():
        for position, module_id in enumerate(system.modules):
            if module_id not in config.modules:
                where = f"systems.{sys_id}.modules[{position}]"
                raise ConfigError(f"{source}: {where}: unknown module {module_id!r}")
    for module_id, module in config.modules.items():
        try:
            load_driver_class(module.driver)
        except Exception as exc:
            raise ConfigError(f"{source}: modules.{module_id}.driver: {exc}") from None
    return config


def load_config(path: Path) -> RuntimeConfig:
    """Read and validate a YAML config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from None
    return parse_config(data, str(path))


def load_driver_class(import_path: str) -> type[Driver]:
    """Import `package.module:Class` and check that it is a Driver subclass."""
    from runtime.driver import Driver

    module_name, _, attr = import_path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}") from None
    driver_class = getattr(module, attr, None)
    if not isinstance(driver_class, type) or not issubclass(driver_class, Driver):
        raise ConfigError(f"{import_path!r} is not a Driver subclass")
    return driver_class
