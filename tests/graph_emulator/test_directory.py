"""Directory queries: paging, $filter/$search/$select/$count, managers, groups, memberships."""

from __future__ import annotations

import urllib.parse

from tests.graph_emulator.helpers import Graph, address

EVENTUAL = {"ConsistencyLevel": "eventual"}


async def test_users_page_across_three_pages_with_absolute_next_links(graph: Graph) -> None:
    url = f"{graph.url}/v1.0/users?$filter=accountEnabled eq true&$top=12&$select=id,mail"
    pages = []
    while url:
        status, body = await graph.get(url)
        assert status == 200
        assert body["@odata.context"] == f"{graph.url}/v1.0/$metadata#users(id,mail)"
        pages.append(body["value"])
        url = body.get("@odata.nextLink")
        if url:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            assert url.startswith(f"{graph.url}/v1.0/users?")
            assert query["$filter"] == ["accountEnabled eq true"]
            assert "$skiptoken" in query
    assert [len(p) for p in pages] == [12, 12, 8]
    ids = [user["id"] for p in pages for user in p]
    assert len(set(ids)) == 32
    assert all(set(user) == {"id", "mail"} for p in pages for user in p)


async def test_default_page_size_and_default_properties(graph: Graph) -> None:
    status, body = await graph.get("/v1.0/users")
    assert status == 200
    assert len(body["value"]) == 10
    assert "@odata.nextLink" in body
    first = body["value"][0]
    assert list(first)[:2] == ["businessPhones", "displayName"]
    assert "accountEnabled" not in first


async def test_filter_forms_the_driver_sends(graph: Graph) -> None:
    query = ("(accountEnabled eq true) and (startswith(displayName,'liam o''c') or "
             "startswith(givenName,'liam o''c') or startswith(mail,'liam o''c'))")
    status, body = await graph.get("/v1.0/users", params={"$filter": query})
    assert status == 200
    assert [u["displayName"] for u in body["value"]] == ["Liam O'Connor"]
    mail = "GRACE.HOPPER@emulated.example"
    status, body = await graph.get("/v1.0/users", params={
        "$filter": f"(mail eq '{mail}') or (userPrincipalName eq '{mail}')",
        "$select": "id,displayName,accountEnabled"})
    assert [u["displayName"] for u in body["value"]] == ["Grace Hopper"]
    assert body["value"][0]["accountEnabled"] is True


async def test_bad_filters_are_refused(graph: Graph) -> None:
    status, body = await graph.get("/v1.0/users",
                                   params={"$filter": "startswith(displayName,'O'Connor')"})
    assert status == 400
    assert body["error"]["code"] == "BadRequest"
    assert body["error"]["message"].startswith("Invalid filter clause")
    status, body = await graph.get("/v1.0/users", params={"$filter": "shoeSize eq 3"})
    assert (status, body["error"]["code"]) == (400, "Request_BadRequest")


async def test_search_needs_consistency_level(graph: Graph) -> None:
    params = {"$search": '"displayName:han"'}
    status, body = await graph.get("/v1.0/users", params=params)
    assert (status, body["error"]["code"]) == (400, "Request_UnsupportedQuery")
    status, body = await graph.get("/v1.0/users", params={**params, "$count": "true"},
                                   headers=EVENTUAL)
    assert status == 200
    assert sorted(u["displayName"] for u in body["value"]) == ["Hannah Kim"]
    assert body["@odata.count"] == 1


async def test_count_without_consistency_level_is_refused(graph: Graph) -> None:
    status, body = await graph.get("/v1.0/users", params={"$count": "true"})
    assert (status, body["error"]["message"]) == (400, "$count is not currently supported.")


async def test_top_above_999_is_refused(graph: Graph) -> None:
    status, body = await graph.get("/v1.0/users", params={"$top": "1000"})
    assert status == 400
    assert "between 1 and 999" in body["error"]["message"]


async def test_get_user_by_upn_is_case_insensitive_and_404_shape(graph: Graph) -> None:
    status, body = await graph.get("/v1.0/users/AMELIA.Hartley@Emulated.Example")
    assert status == 200
    assert body["@odata.context"].endswith("$metadata#users/$entity")
    status, body = await graph.get("/v1.0/users/nobody@emulated.example")
    assert status == 404
    assert body["error"]["code"] == "Request_ResourceNotFound"
    assert "nobody@emulated.example" in body["error"]["message"]


async def test_manager(graph: Graph) -> None:
    status, body = await graph.get(f"/v1.0/users/{address('elena.rossi')}/manager")
    assert status == 200
    assert body["@odata.type"] == "#microsoft.graph.user"
    assert body["displayName"] == "Daniel Fischer"
    status, body = await graph.get(f"/v1.0/users/{address('amelia.hartley')}/manager")
    assert status == 404
    assert body["error"]["code"] == "Request_ResourceNotFound"


async def test_transitive_member_of_includes_nested_groups(graph: Graph) -> None:
    path = f"/v1.0/users/{address('elena.rossi')}/transitiveMemberOf/microsoft.graph.group"
    status, body = await graph.get(path, params={"$orderby": "displayName", "$top": "999"},
                                   headers=EVENTUAL)
    assert (status, body["error"]["code"]) == (400, "Request_UnsupportedQuery")
    status, body = await graph.get(path, headers=EVENTUAL, params={
        "$orderby": "displayName", "$top": "999", "$count": "true"})
    assert status == 200
    assert [g["displayName"] for g in body["value"]] == [
        "All Staff", "Engineering", "Platform Team", "Social Club"]
    status, direct = await graph.get(f"/v1.0/users/{address('elena.rossi')}/memberOf")
    assert {g["displayName"] for g in direct["value"]} == {"Platform Team", "Social Club"}
    assert all(g["@odata.type"] == "#microsoft.graph.group" for g in direct["value"])


async def test_groups_filter_and_members(graph: Graph) -> None:
    status, body = await graph.get("/v1.0/groups", params={
        "$filter": "startswith(displayName, 'o''reilly')"}, headers=EVENTUAL)
    assert [g["displayName"] for g in body["value"]] == ["O'Reilly Book Club"]
    status, body = await graph.get("/v1.0/groups", params={
        "$filter": "mail eq 'Facilities@emulated.example'"})
    facilities = body["value"][0]
    assert facilities["displayName"] == "Facilities & Workplace"
    operations = (await graph.get("/v1.0/groups", params={
        "$filter": "displayName eq 'Operations'"}))[1]["value"][0]
    status, direct = await graph.get(f"/v1.0/groups/{operations['id']}/members",
                                     params={"$top": "50"})
    kinds = {m.get("displayName"): m["@odata.type"] for m in direct["value"]}
    assert kinds["Facilities & Workplace"] == "#microsoft.graph.group"
    assert "Maya Patel" not in kinds
    status, nested = await graph.get(
        f"/v1.0/groups/{operations['id']}/transitiveMembers/microsoft.graph.user",
        params={"$top": "50", "$select": "displayName,accountEnabled"})
    assert status == 200
    names = {m["displayName"] for m in nested["value"]}
    assert {"Maya Patel", "Noah Schmidt", "Chloe Nguyen"} <= names
    assert nested["@odata.context"].endswith("#users(displayName,accountEnabled)")


async def test_group_members_page_by_five(graph: Graph) -> None:
    status, groups = await graph.get("/v1.0/groups")
    assert len(groups["value"]) == 5
    everyone = next(g for g in (await graph.get("/v1.0/groups", params={
        "$filter": "displayName eq 'Sales & Marketing'"}))[1]["value"])
    status, members = await graph.get(f"/v1.0/groups/{everyone['id']}/members")
    assert len(members["value"]) == 5
    status, rest = await graph.get(members["@odata.nextLink"])
    assert status == 200
    assert len(rest["value"]) == 3
    assert "@odata.nextLink" not in rest


async def test_unknown_group_and_segment(graph: Graph) -> None:
    status, body = await graph.get("/v1.0/groups/00000000-0000-0000-0000-000000000000")
    assert (status, body["error"]["code"]) == (404, "Request_ResourceNotFound")
    for path in ("/v1.0/groups/engineering", "/v1.0/groups/engineering/members"):
        status, body = await graph.get(path)
        assert (status, body["error"]["code"], body["error"]["message"]) == (
            400, "Request_BadRequest", "Invalid object identifier 'engineering'.")
    status, body = await graph.get("/v1.0/printers")
    assert status == 400
    assert body["error"]["message"] == "Resource not found for the segment 'printers'."


async def test_type_cast_segments_in_both_spellings(graph: Graph) -> None:
    group = next(g for g in graph.state.groups.values() if g["displayName"] == "Platform Team")
    users = {m for m in group["members"] if m in graph.state.users}
    for cast in ("graph.user", "microsoft.graph.user", "Microsoft.Graph.User"):
        status, body = await graph.get(f"/v1.0/groups/{group['id']}/members/{cast}",
                                       params={"$top": "999"})
        assert status == 200, body
        assert {m["id"] for m in body["value"]} == users
        assert body["@odata.context"].endswith("$metadata#users")
    for cast in ("graph.device", "graph.orgContact", "graph.servicePrincipal"):
        status, body = await graph.get(f"/v1.0/groups/{group['id']}/transitiveMembers/{cast}")
        assert (status, body["value"]) == (200, [])
    member = next(iter(users))
    status, body = await graph.get(f"/v1.0/users/{member}/transitiveMemberOf/graph.group",
                                   params={"$top": "999"})
    assert status == 200 and {g["id"] for g in body["value"]} == {
        g["id"] for g in graph.state.transitive_groups(member)}
    assert all("@odata.type" not in g for g in body["value"])
    status, body = await graph.get(f"/v1.0/users/{member}/memberOf/graph.administrativeUnit")
    assert (status, body["value"]) == (200, [])
    for path in (f"/v1.0/users/{member}/memberOf/graph.user",
                 f"/v1.0/groups/{group['id']}/memberOf/graph.directoryRole",
                 f"/v1.0/groups/{group['id']}/members/graph.printer",
                 f"/v1.0/groups/{group['id']}/members/other.user"):
        status, body = await graph.get(path)
        assert status == 400 and body["error"]["message"].startswith(
            "Resource not found for the segment"), path
