"""Everything a client or an operator can see of one module, as one text to search."""

from __future__ import annotations

import json
from typing import Any

from runtime.testing import RuntimeHandle

API = "/api/engine/v2/systems"


async def rest_view(rt: RuntimeHandle, system: str, slug: str) -> dict[str, Any]:
    """The REST listings of the systems, of ``system`` with its modules, and the module's
    status map, functions and ``load_error``."""
    seen: dict[str, Any] = {}
    for path in (API, f"{API}/{system}", f"{API}/{system}/{slug}",
                 f"{API}/{system}/functions/{slug}", f"{API}/{system}/{slug}/load_error"):
        status, body = await rt.rest("GET", path)
        seen[path] = {"status": status, "body": body}
    return seen


async def exposed_text(rt: RuntimeHandle, system: str, slug: str, module_id: str) -> str:
    """REST listings and status, the module's error and its status store, as JSON text."""
    module = rt.runtime.host.modules[module_id]
    parts = [json.dumps(await rest_view(rt, system, slug)), json.dumps(module.describe()),
             str(rt.runtime.store.snapshot(module_id))]
    return "\n".join(parts)
