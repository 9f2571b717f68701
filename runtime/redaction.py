"""Exception text that never carries setting values or frame locals.

A pydantic `ValidationError` prints each rejected input (`input_value=...`), which for driver
settings may be a client secret or a private key. Whatever the runtime shows of an exception, in
a reply, a status or a log line, goes through `exception_text` / `format_exception`, which name the
failing keys and rules only. Tracebacks never include frame locals.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator

from pydantic import ValidationError
from pydantic_core import ValidationError as CoreValidationError


def _is_validation_error(exc: BaseException) -> bool:
    return isinstance(exc, ValidationError | CoreValidationError)


def validation_problems(exc: ValidationError) -> str:
    """`key.path: rule` for each problem, joined by `; ` (never the rejected values)."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(part) for part in err["loc"]) or "(value)"
        problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)


def exception_text(exc: BaseException) -> str:
    """`str(exc)`, except that a validation error names its keys and rules only."""
    if _is_validation_error(exc):
        count = exc.error_count()  # type: ignore[attr-defined]
        title = exc.title  # type: ignore[attr-defined]
        noun = "error" if count == 1 else "errors"
        return f"{count} validation {noun} for {title}: {validation_problems(exc)}"  # type: ignore[arg-type]
    return str(exc)


def exception_message(exc: BaseException) -> str:
    """PlaceOS's `<message> (<ClassName>)`, with the bare class name."""
    return f"{exception_text(exc)} ({type(exc).__name__})"


def _chain(te: traceback.TracebackException) -> Iterator[traceback.TracebackException]:
    seen: set[int] = set()
    stack = [te]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
        stack.extend(getattr(current, "exceptions", None) or ())


def _redact(te: traceback.TracebackException, exc: BaseException | None) -> None:
    """Replace the message of every validation error in `te`'s chain by its redacted text."""
    by_id: dict[int, BaseException] = {}
    pending = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in by_id:
            continue
        by_id[id(current)] = current
        pending += [current.__cause__, current.__context__]
        pending += list(getattr(current, "exceptions", None) or ())
    validation = [e for e in by_id.values() if _is_validation_error(e)]
    if not validation:
        return
    for node in _chain(te):
        if node.exc_type is not None and issubclass(node.exc_type, CoreValidationError):
            shown = getattr(node, "_str", None)
            for candidate in validation:
                if str(candidate) == shown:
                    node._str = exception_text(candidate)  # type: ignore[attr-defined]
                    break
            else:
                node._str = "validation error (details withheld)"  # type: ignore[attr-defined]


def format_exception(exc: BaseException) -> str:
    """The traceback of `exc` (chained ones included), without locals or rejected inputs."""
    te = traceback.TracebackException.from_exception(exc, capture_locals=False)
    _redact(te, exc)
    return "".join(te.format()).rstrip()


def backtrace_lines(exc: BaseException) -> list[str]:
    """The traceback lines of `exc` itself, as REST's `backtrace` carries them."""
    return [line.rstrip() for line in traceback.format_tb(exc.__traceback__)]
