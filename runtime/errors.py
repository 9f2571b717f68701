"""Exceptions the runtime raises or lets drivers raise."""

from __future__ import annotations

from protocol import ErrorCode


class SettingNotFound(KeyError):
    """A setting a driver asked for with `setting()` is absent or null."""

    def __init__(self, keys: tuple[str | int, ...]) -> None:
        self.keys = keys
        super().__init__("->".join(str(k) for k in keys))

    def __str__(self) -> str:
        return f"setting not found: {'->'.join(str(k) for k in self.keys)}"


class SettingsError(ValueError):
    """Settings that fail validation; the message names each key and rule, never a value."""


class Abort(Exception):
    """Raised by a driver to fail a command with a chosen response code (default 500)."""

    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.code = code


class ExecFailure(Exception):
    """A command that could not run or failed, classified for the reply."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        http_code: int = 500,
        backtrace: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.error_code = code
        self.message = message
        self.http_code = http_code
        self.backtrace = backtrace


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the file, key path and problem.

    A file with several problems gives one line per problem, all in `problems`.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]

    @classmethod
    def from_problems(cls, source: str, problems: list[tuple[str, str]]) -> ConfigError:
        """One error listing `(key path, problem)` pairs of the file `source`."""
        lines = [f"{source}: {where}: {problem}" for where, problem in problems]
        if not lines:
            lines = [f"{source}: invalid config"]
        return cls("\n".join(lines), lines)
