"""Directory lookups over Graph: users, managers, groups and memberships.

Each function issues the requests the original PlaceOS driver sends for its command (with quote-
escaped OData values and every page followed) and returns normalised models.
"""

from __future__ import annotations

from typing import Any

from drivers.calendar.models import Group, Member, User

from .graph_client import GraphClient
from .graph_mapping import USER_FIELDS, map_group, map_member, map_user
from .graph_payloads import user_search_filter
from .graph_request import odata_string, path

__all__ = [
    "MAX_ITEMS",
    "get_group",
    "get_groups",
    "get_members",
    "get_user",
    "get_user_manager",
    "list_groups",
    "list_users",
]

#: Upper bound on the items one listing collects by following next links.
MAX_ITEMS = 50_000
USER_SELECT = ",".join(USER_FIELDS)
EVENTUAL = {"ConsistencyLevel": "eventual"}
GRAPH_MAX_TOP = 999
GROUPS_TOP = 950


async def list_users(client: GraphClient, query: str | None, limit: int | None) -> list[User]:
    """Enabled users, optionally only those whose names or mail start with each query word."""
    params: dict[str, Any] = {"$select": USER_SELECT, "$filter": user_search_filter(query)}
    if limit is not None:
        if limit <= 0:
            return []
        params["$top"] = min(limit, GRAPH_MAX_TOP)
    cap = limit if limit is not None else MAX_ITEMS
    items = await client.get_all("/users", params=params, limit=cap)
    return [map_user(item) for item in items]


async def get_user(client: GraphClient, user_id: str) -> User | None:
    """A user by email / UPN (``None`` when nobody matches) or by object id (404 raises)."""
    if "@" in user_id:
        value = odata_string(user_id)
        params = {
            "$select": USER_SELECT,
            "$filter": f"(mail eq {value}) or (userPrincipalName eq {value})",
        }
        body = await client.get("/users", params=params)
        users = body.get("value") if isinstance(body, dict) else None
        return map_user(users[0]) if users else None
    body = await client.get(path("users", user_id), params={"$select": USER_SELECT})
    return map_user(body)


async def get_user_manager(client: GraphClient, user_id: str) -> User:
    """The manager of a user (Graph's default user properties; 404 when there is none)."""
    body = await client.get(path("users", user_id, "manager"))
    return map_user(body)


async def _group_by_mail(client: GraphClient, email: str) -> dict[str, Any] | None:
    params = {"$filter": f"mail eq {odata_string(email)}", "$top": GROUPS_TOP}
    body = await client.get("/groups", params=params, headers=EVENTUAL)
    groups = body.get("value") if isinstance(body, dict) else None
    return groups[0] if groups else None


async def list_groups(client: GraphClient, query: str | None) -> list[Group]:
    """All groups, or those whose display name starts with ``query``."""
    params: dict[str, Any] = {}
    if query:
        params["$filter"] = f"startswith(displayName, {odata_string(query)})"
    params["$top"] = GROUPS_TOP
    items = await client.get_all("/groups", params=params, headers=EVENTUAL, limit=MAX_ITEMS)
    return [map_group(item) for item in items]


async def get_group(client: GraphClient, group_id: str) -> Group:
    """A group by id, or by its email address (falling back to the id lookup)."""
    if "@" in group_id:
        found = await _group_by_mail(client, group_id)
        if found is not None:
            return map_group(found)
    return map_group(await client.get(path("groups", group_id)))


async def get_groups(client: GraphClient, user_id: str) -> list[Group]:
    """The groups a user belongs to, directly or through nested groups."""
    params = {"$orderby": "displayName", "$count": "true", "$top": GRAPH_MAX_TOP}
    url = path("users", user_id, "transitiveMemberOf", "microsoft.graph.group")
    items = await client.get_all(url, params=params, headers=EVENTUAL, limit=MAX_ITEMS)
    return [map_group(item) for item in items]


async def get_members(client: GraphClient, group_id: str) -> list[Member]:
    """The users directly in a group (the group given by id or by email)."""
    if "@" in group_id:
        found = await _group_by_mail(client, group_id)
        if found is not None and found.get("id"):
            group_id = str(found["id"])
    params = {"$select": USER_SELECT, "$orderby": "displayName", "$count": "true",
              "$top": GRAPH_MAX_TOP}
    url = path("groups", group_id, "members", "microsoft.graph.user")
    items = await client.get_all(url, params=params, headers=EVENTUAL, limit=MAX_ITEMS)
    return [map_member(item) for item in items]
