"""The YAML config: servers, auth, modules and systems, validated with pydantic.

A bad file is refused with every problem it has, one line each naming the file, the key path
and the problem, e.g. `config.yaml: systems.sys-1.modules[2]: unknown module 'mod-x'`.
"""

from __future__ import annotations

import importlib
import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runtime.config_source import (
    Problem,
    YamlError,
    key_path,
    parse_yaml,
    resolve_paths,
    substitute_env,
)
from runtime.errors import ConfigError
from runtime.logs import get_logger

if TYPE_CHECKING:
    from runtime.driver import Driver

DEFAULT_EXEC_TIMEOUT = 120.0
DEFAULT_LOAD_TIMEOUT = 30.0
DEFAULT_SHUTDOWN_GRACE = 10.0
DEFAULT_MAX_AUTH_FAILURES = 20
DEFAULT_AUTH_FAILURE_WINDOW = 60.0
DEFAULT_MAX_CONNECTIONS_PER_KEY = 1000

log = get_logger(component="config")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    reload: bool = False
    log_format: Literal["json", "console"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Folders to import drivers from, besides the config file's own folder.
    driver_paths: list[Path] = []
    #: Origins allowed by CORS; none means no CORS headers.
    cors_origins: list[str] = []
    #: Addresses or networks of reverse proxies whose X-Forwarded-For is believed.
    trusted_proxies: list[str] = []
    #: Seconds that running requests get to finish when the server stops.
    shutdown_grace: float = Field(default=DEFAULT_SHUTDOWN_GRACE, ge=0)
    #: Serve /metrics without a credential.
    public_metrics: bool = False

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
    #: Failed authentications per client address within `failure_window` seconds before 429.
    max_failures: int = Field(default=DEFAULT_MAX_AUTH_FAILURES, ge=1)
    failure_window: float = Field(default=DEFAULT_AUTH_FAILURE_WINDOW, gt=0)
    #: Open WebSocket connections per credential before the next upgrade gets 429.
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
    #: Send execs to our other hosts over the exec channel (false: PlaceOS's POST route only).
    exec_channel: bool = True


class RuntimeConfig(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    modules: dict[str, ModuleConfig] = {}
    systems: dict[str, SystemConfig] = {}
    cluster: ClusterConfig | None = None


def validation_problems(exc: ValidationError) -> list[Problem]:
    """`(key path, message)` per error of a pydantic validation, never the offending value."""
    return [
        (key_path(err["loc"]), err["msg"])
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def _references(data: dict[str, Any], skip: set[str]) -> list[Problem]:
    """Unknown modules named by systems, and drivers that do not import (on the raw data)."""
    problems: list[Problem] = []
    raw_modules, raw_systems = data.get("modules"), data.get("systems")
    modules: dict[Any, Any] = raw_modules if isinstance(raw_modules, dict) else {}
    systems: dict[Any, Any] = raw_systems if isinstance(raw_systems, dict) else {}
    for sys_id, system in systems.items():
        members = system.get("modules") if isinstance(system, dict) else None
        for position, module_id in enumerate(members if isinstance(members, list) else []):
            if isinstance(module_id, str) and module_id not in modules:
                where = f"systems.{sys_id}.modules[{position}]"
                problems.append((where, f"unknown module {module_id!r}"))
    for module_id, module in modules.items():
        where = f"modules.{module_id}.driver"
        driver = module.get("driver") if isinstance(module, dict) else None
        if where in skip or not isinstance(driver, str):
            continue
        try:
            load_driver_class(driver)
        except ConfigError as exc:
            problems.append((where, str(exc)))
    return problems


def extend_import_path(folders: list[Path]) -> None:
    """Put driver folders on the import path (once each, after what is already there)."""
    for folder in folders:
        text = str(folder)
        if text not in sys.path:
            sys.path.append(text)
            importlib.invalidate_caches()


def parse_config(
    data: Any,
    source: str = "<config>",
    *,
    base_dir: Path | None = None,
    problems: list[Problem] | None = None,
) -> RuntimeConfig:
    """Validate a decoded config; raises ConfigError listing every problem found.

    With `base_dir` (the config file's folder), relative paths resolve against it and it goes on
    the driver import path with `server.driver_paths`. `problems` found earlier (e.g. while
    reading the file) are reported together with the rest.
    """
    found = list(problems or [])
    if data is None:
        data = {}
    if not isinstance(data, dict):
        found.append(("(top level)", "expected a mapping of sections (server, auth, ...)"))
        raise ConfigError.from_problems(source, found)
    if base_dir is not None:
        data = resolve_paths(data, base_dir)
        folders = [base_dir]
        server = data.get("server")
        if isinstance(server, dict) and isinstance(server.get("driver_paths"), list):
            folders += [Path(p) for p in server["driver_paths"] if isinstance(p, str)]
        extend_import_path(folders)
    config: RuntimeConfig | None = None
    try:
        config = RuntimeConfig.model_validate(data)
    except ValidationError as exc:
        found += validation_problems(exc)
    if config is not None and base_dir is None:
        extend_import_path(config.server.driver_paths)
    found += _references(data, {where for where, _ in found})
    if found or config is None:
        raise ConfigError.from_problems(source, found)
    return config


def load_config(path: Path) -> RuntimeConfig:
    """Read, substitute and validate a YAML config file; every problem is reported at once."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data, problems = parse_yaml(text)
    except YamlError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    data, env_problems = substitute_env(data)
    config = parse_config(
        data, str(path), base_dir=path.resolve().parent, problems=problems + env_problems
    )
    if not config.modules and not config.systems:
        log.warning("config defines no modules or systems: nothing to host", file=str(path))
    return config


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
