"""Email templates of the PlaceOS Mailer interface (``send_template`` / ``build_template``).

The store is the ``email_templates`` setting: ``{event_name: {notify_who: {subject, text?,
html?}}}``. A template is chosen with ``[event_name, notify_who]`` or ``"event_name.notify_who"``
and filled by replacing each ``%{key}`` with its argument, in argument order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["TemplateArg", "build_template", "find_template", "template_selector"]

TemplateArg = str | int | float | bool | None


def _as_text(value: TemplateArg) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_template(string: str | None, args: Mapping[str, TemplateArg]) -> str | None:
    """``string`` with every ``%{key}`` replaced by ``args[key]``; ``None`` stays ``None``.

    Replacement is sequential and literal: placeholders without an argument are left as they
    are, and a value that itself contains ``%{other}`` can be filled by a later key.
    """
    if string is None:
        return None
    for key, value in args.items():
        string = string.replace("%{" + key + "}", _as_text(value))
    return string


def template_selector(template: str | Sequence[str]) -> tuple[str, str]:
    """``(event_name, notify_who)`` from ``["visitor", "checkin"]`` or ``"visitor.checkin"``."""
    if isinstance(template, str):
        parts = template.split(".", 1)
    else:
        parts = [str(part) for part in template]
    if len(parts) != 2 or not all(parts):
        raise ValueError(
            "template must be [event_name, notify_who] or 'event_name.notify_who', "
            f"got {template!r}"
        )
    return parts[0], parts[1]


def find_template(
    store: Mapping[str, Any] | None, event_name: str, notify_who: str
) -> Mapping[str, Any] | None:
    """The template at ``store[event_name][notify_who]``, or ``None`` when either is missing."""
    if not isinstance(store, Mapping):
        return None
    by_recipient = store.get(event_name)
    if not isinstance(by_recipient, Mapping):
        return None
    template = by_recipient.get(notify_who)
    return template if isinstance(template, Mapping) else None
