"""Access tokens are RS256 JWTs any client can decode and verify against the published JWKS."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jwt
from azure.identity.aio import ClientSecretCredential
from cryptography.hazmat.primitives.asymmetric import rsa

from fixtures.emulator_base import RunningEmulator
from fixtures.graph_emulator import start
from tests.graph_emulator.helpers import GRAPH_SCOPE, Graph


async def _json(graph: Graph, url: str) -> Any:
    async with graph.session.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def _azure_identity_token(emulator: RunningEmulator) -> str:
    async with ClientSecretCredential("emulated-tenant", "emulated-client", "emulated-secret",
                                      authority=emulator.url, disable_instance_discovery=True,
                                      connection_verify=str(emulator.ca_file)) as credential:
        return (await credential.get_token(GRAPH_SCOPE)).token


async def test_token_verifies_against_the_published_jwks(graph: Graph) -> None:
    token = await _azure_identity_token(graph.emulator)
    tenant_id = graph.state.credentials.tenant_id
    v2 = await _json(graph, f"{graph.url}/emulated-tenant/v2.0/.well-known/openid-configuration")
    assert v2["jwks_uri"] == f"{graph.url}/{tenant_id}/discovery/v2.0/keys"
    jwks = jwt.PyJWKSet.from_dict(await _json(graph, v2["jwks_uri"]))
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    v1 = await _json(graph, f"{graph.url}/emulated-tenant/.well-known/openid-configuration")
    claims = jwt.decode(token, key.key, algorithms=["RS256"],
                        audience="https://graph.microsoft.com", issuer=v1["issuer"])
    assert claims["tid"] == tenant_id
    assert claims["appid"] == "emulated-client"
    assert (claims["idtyp"], claims["ver"]) == ("app", "1.0")
    assert "Calendars.ReadWrite" in claims["roles"]
    assert claims["exp"] - claims["iat"] == 3599
    v1_keys = await _json(graph, v1["jwks_uri"])
    assert [k["kid"] for k in v1_keys["keys"]] == [header["kid"]]


async def test_each_emulator_signs_with_its_own_key(graph: Graph, tmp_path: Path) -> None:
    await graph.login()
    assert (await graph.get("/v1.0/users?$top=1"))[0] == 200
    async with await start(tmp_path / "other") as other:
        graph.token = await _azure_identity_token(other)
    status, body = await graph.get("/v1.0/users?$top=1")
    assert (status, body["error"]["code"]) == (401, "InvalidAuthenticationToken")


def _tampered(token: str, **changes: Any) -> str:
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{head}.{encoded}.{signature}"


async def test_tampered_or_self_signed_tokens_are_refused(graph: Graph) -> None:
    token = await graph.login()
    claims = jwt.decode(token, options={"verify_signature": False})
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = jwt.get_unverified_header(token)
    forged = jwt.encode(claims, impostor, algorithm="RS256", headers={"kid": header["kid"]})
    for bad in (_tampered(token, roles=["Directory.ReadWrite.All"]), forged,
                jwt.encode(claims, "s" * 32, algorithm="HS256")):
        graph.token = bad
        status, body = await graph.get("/v1.0/users?$top=1")
        assert (status, body["error"]["message"]) == (401, "Access token validation failure.")
    graph.token = token
    assert (await graph.get("/v1.0/users?$top=1"))[0] == 200


async def test_expire_tokens_fault_and_reset_apply_to_jwts(graph: Graph) -> None:
    token = await graph.login()
    await graph.control("POST", "faults", {"expire_tokens": True})
    status, body = await graph.get("/v1.0/users?$top=1")
    assert (status, body["error"]["message"]) == (
        401, "Access token has expired or is not yet valid.")
    fresh = await graph.login()
    assert (await graph.get("/v1.0/users?$top=1"))[0] == 200
    await graph.control("POST", "reset")
    graph.token = fresh
    status, body = await graph.get("/v1.0/users?$top=1")
    assert (status, body["error"]["message"]) == (401, "Access token validation failure.")
    assert token != fresh
