"""The one access check every path goes through: WebSocket commands and REST routes alike.

Clearance is user < support < admin. Any authenticated caller may list systems, bind, read state
and functions, and exec (each function's own `@security` level is checked when it runs).
Protected modules, whose name starts with `_`, need Support on every operation that touches them;
`debug` and `ignore` need Support on any module. A refusal is `error_code` 2 on the WebSocket and
HTTP 401 on REST, like a function above the caller's clearance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from protocol import Command
from runtime.security import Clearance

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute `requires` sets on a REST handler.
OPERATION_ATTR = "__runtime_operation__"
#: What a module's name starts with when only Support and Admin may reach it.
PROTECTED_PREFIX = "_"


class Operation(StrEnum):
    """What a caller asks to do. WebSocket commands use their own names."""

    CONNECT = "connect"  # open the control WebSocket
    LIST = "list"  # systems, one system, module types
    BIND = "bind"
    UNBIND = "unbind"
    EXEC = "exec"
    DEBUG = "debug"
    IGNORE = "ignore"
    STATE = "state"  # a module's status, or one status value
    FUNCTIONS = "functions"  # a module's command listing
    ADMIN = "admin"  # host administration


#: Operations that stay open on protected modules (dropping one's own binding is harmless).
UNPROTECTED = frozenset({Operation.CONNECT, Operation.LIST, Operation.UNBIND})


@dataclass(frozen=True, slots=True)
class Denied:
    """A refusal and the message the caller gets."""

    message: str


def check_access(
    clearance: Clearance, operation: Operation, module_name: str | None = None
) -> Denied | None:
    """None when `clearance` may do `operation` (on module `module_name`), else why not.

    Written for the exec hot path: identity tests first, no enum hashing on the common path.
    """
    if clearance is Clearance.ADMIN:
        return None
    if operation is Operation.ADMIN:
        return Denied("admin clearance required")
    if (operation is Operation.DEBUG or operation is Operation.IGNORE) and (
        clearance < Clearance.SUPPORT
    ):
        return Denied(f"{operation.value} requires support clearance")
    if (
        module_name is not None
        and module_name.startswith(PROTECTED_PREFIX)
        and clearance < Clearance.SUPPORT
        and operation not in UNPROTECTED
    ):
        return Denied("attempted to access protected module")
    return None


# Enum members as plain globals: a module global is found faster than an enum class attribute.
_ADMIN, _DEBUG, _IGNORE = Clearance.ADMIN, Command.DEBUG, Command.IGNORE


def check_command(
    clearance: Clearance, command: Command, mod: str, modules: Mapping[str, Any]
) -> Denied | None:
    """`check_access` for a WebSocket command addressing `mod` (a module name; for `debug` and
    `ignore`, a module id looked up in `modules`). The common case, an admin or a command on an
    unprotected module, is answered without building the operation."""
    if clearance is _ADMIN:
        return None
    if command is _DEBUG or command is _IGNORE:
        module = modules.get(mod)
        name = module.name if module is not None else None
        return check_access(clearance, command_operation(command), name)
    if not mod.startswith(PROTECTED_PREFIX):
        return None
    return check_access(clearance, command_operation(command), mod)


def command_operation(command: Command) -> Operation:
    """The operation of a WebSocket command."""
    if command is Command.EXEC:
        return Operation.EXEC
    if command is Command.BIND:
        return Operation.BIND
    if command is Command.UNBIND:
        return Operation.UNBIND
    if command is Command.DEBUG:
        return Operation.DEBUG
    return Operation.IGNORE


def requires(operation: Operation) -> Callable[[F], F]:
    """Declare the operation a REST handler performs (checked before it runs)."""

    def mark(handler: F) -> F:
        setattr(handler, OPERATION_ATTR, operation)
        return handler

    return mark


def operation_of(handler: Any, method: str) -> Operation:
    """The operation a REST handler declared; undeclared ones count as EXEC (POST) or STATE."""
    declared = getattr(handler, OPERATION_ATTR, None)
    if isinstance(declared, Operation):
        return declared
    return Operation.EXEC if method == "POST" else Operation.STATE
