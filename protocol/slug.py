"""Module slugs (`Display_2`) as REST routes carry them."""

from __future__ import annotations


def parse_module_slug(slug: str) -> tuple[str, int]:
    """Split `Name_Index` on the last underscore; without an integer suffix the index is 1.

    `Display` -> (`Display`, 1), `Display_3` -> (`Display`, 3), `My_Display` -> (`My_Display`, 1).
    """
    name, sep, tail = slug.rpartition("_")
    if sep and name and tail.isascii() and tail.isdigit():
        return name, int(tail)
    return slug, 1


def module_slug(name: str, index: int) -> str:
    """The slug of module `name` at `index`."""
    return f"{name}_{index}"
