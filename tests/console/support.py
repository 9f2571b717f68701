"""Runtimes for the console tests, started as `python -m runtime serve` subprocesses."""

from __future__ import annotations

import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import yaml

from tests.support.serve_process import ServeProcess as Served
from tests.support.serve_process import start_serve_sync

ROOT = Path(__file__).resolve().parents[2]
#: Seconds a runtime gets to print its ready line (the embedded one starts two emulators).
START_TIMEOUT = 60.0

ADMIN_KEY = "console-admin-key-0001"
USER_KEY = "console-user-key-0001"
JWT_SECRET = "console-jwt-secret-of-at-least-32-bytes"

PROBE_SOURCE = '''
from typing import Any, Literal

from runtime import Driver, Level, security


class Probe(Driver):
    """A small driver with one command per kind of parameter."""

    generic_name = "Probe"

    def on_load(self) -> None:
        self["counter"] = 0
        self["mode"] = "idle"

    def bump(self, by: int = 1) -> int:
        """Add `by` to the counter status."""
        self["counter"] = self.status["counter"] + by
        return self.status["counter"]

    def configure(
        self,
        mode: Literal["idle", "busy", "away"],
        enabled: bool,
        count: int = 3,
        ratio: float = 0.5,
        tags: list[str] = [],
        options: dict[str, Any] | None = None,
        label: str | None = None,
    ) -> dict[str, Any]:
        """Echo the arguments as the driver received them."""
        self["mode"] = mode
        return {
            "mode": mode, "enabled": enabled, "count": count, "ratio": ratio,
            "tags": tags, "options": options, "label": label,
        }

    def remember(self, name: str, value: Any) -> None:
        """Set (or, with null, delete) a status of any name."""
        if value is None:
            del self[name]
        else:
            self[name] = value

    def fail(self, reason: str = "probe failure") -> None:
        """Raise, so the error reply can be seen."""
        raise ValueError(reason)

    def say(
        self, message: str, level: Literal["debug", "info", "warning", "error"] = "info"
    ) -> None:
        """Write one line to the module's log."""
        getattr(self.logger, level)(message)

    @security(Level.SUPPORT)
    def maintenance(self) -> str:
        """Only support and admin callers see this one."""
        return "support only"


class Broken(Driver):
    generic_name = "Broken"

    def on_load(self) -> None:
        raise RuntimeError("probe hardware missing")
'''


def serve(args: list[str], pythonpath: tuple[str, ...] = ()) -> Served:
    """Start `python -m runtime serve ARGS` and wait for its ready line."""
    return start_serve_sync(*args, port=None, pythonpath=pythonpath, timeout=START_TIMEOUT)


@dataclass
class ProbeSite:
    """A config file with the probe driver package beside it."""

    root: Path
    package: str
    config_path: Path

    @property
    def driver_path(self) -> Path:
        return self.root / self.package / "probe.py"

    def write_driver(self, source: str) -> None:
        self.driver_path.write_text(source)


def make_probe_site(root: Path, extra_config: dict[str, Any] | None = None) -> ProbeSite:
    """Write a uniquely named driver package and a config using it under `root`."""
    package = f"console_probe_{uuid.uuid4().hex[:8]}"
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    (root / package / "probe.py").write_text(textwrap.dedent(PROBE_SOURCE).lstrip())
    config: dict[str, Any] = {
        "auth": {
            "api_keys": [
                {"key": ADMIN_KEY, "clearance": "admin", "name": "console admin"},
                {"key": USER_KEY, "clearance": "user", "name": "console user"},
            ],
            "jwt": {"secret": JWT_SECRET},
        },
        "modules": {
            "mod-probe": {"driver": f"{package}.probe:Probe"},
            "mod-broken": {"driver": f"{package}.probe:Broken", "load_timeout": 5},
            "mod-secret": {"driver": f"{package}.probe:Probe", "name": "_Secret"},
        },
        "systems": {
            "sys-probe": {
                "name": "Probe lab",
                "description": "A test driver",
                "modules": ["mod-probe", "mod-broken", "mod-secret"],
            }
        },
        **(extra_config or {}),
    }
    config_path = root / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return ProbeSite(root, package, config_path)


def bearer_token(*, support: bool, lifetime: float = 3600.0) -> str:
    """A JWT the probe runtime accepts, as PlaceOS issues them (`u.n`, `u.support`)."""
    claims = {"sub": "console-tester", "exp": int(time.time() + lifetime)}
    claims["u"] = {"n": "Console Tester", "support": support}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def serve_probe(site: ProbeSite, *, reload: bool = False, port: int = 0) -> Served:
    args = ["--config", str(site.config_path), "--port", str(port)]
    if reload:
        args.append("--reload")
    return serve(args, (str(site.root),))
