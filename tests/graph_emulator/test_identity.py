"""Identity platform: MSAL client credentials, discovery, token errors, token expiry."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import msal
import pytest
import requests

from fixtures.emulator_base import RunningEmulator
from fixtures.graph_emulator import start
from tests.graph_emulator.helpers import GRAPH_SCOPE, Graph, client_session


def _msal_token(emulator: RunningEmulator, secret: str, **kwargs: Any) -> dict[str, Any]:
    app = msal.ConfidentialClientApplication(
        "emulated-client", client_credential=secret,
        authority=f"{emulator.url}/emulated-tenant", **kwargs)
    result: dict[str, Any] = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    return result


def _session(ca_file: Path) -> requests.Session:
    """A requests session that honours `verify` even when REQUESTS_CA_BUNDLE is set."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_file)
    return session


async def test_msal_acquires_a_token_that_graph_accepts(graph: Graph) -> None:
    result = await asyncio.to_thread(
        _msal_token, graph.emulator, "emulated-secret",
        http_client=_session(graph.emulator.ca_file), instance_discovery=False)
    assert result["token_type"] == "Bearer"
    assert result["expires_in"] == 3599
    graph.token = result["access_token"]
    status, body = await graph.get("/v1.0/users/amelia.hartley@emulated.example")
    assert status == 200
    assert body["displayName"] == "Amelia Hartley"
    paths = [entry["path"] for entry in await graph.control("GET", "requests")]
    assert paths[0] == "/emulated-tenant/v2.0/.well-known/openid-configuration"
    assert paths[1].endswith("/oauth2/v2.0/token")


async def test_msal_with_verify_and_emulated_instance_discovery(
        graph: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    emulator = graph.emulator
    result = await asyncio.to_thread(
        _msal_token, emulator, "emulated-secret", verify=str(emulator.ca_file),
        instance_discovery=f"{emulator.url}/common/discovery/instance")
    assert "access_token" in result, result
    paths = [entry["path"] for entry in await graph.control("GET", "requests")]
    assert paths[0] == "/common/discovery/instance"


async def test_msal_reports_a_wrong_secret_as_aadsts7000215(graph: Graph) -> None:
    result = await asyncio.to_thread(
        _msal_token, graph.emulator, "not-the-secret",
        http_client=_session(graph.emulator.ca_file), instance_discovery=False)
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret")


async def test_wrong_secret_body_shape(graph: Graph) -> None:
    status, body = await graph.token_request(client_secret="wrong")
    assert status == 401
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert "emulated-client" in body["error_description"]
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= set(body)
    assert "wrong" not in str(body)


@pytest.mark.parametrize(("fields", "status", "error", "code"), [
    ({"tenant": "someone-else"}, 400, "invalid_tenant", 90002),
    ({"client_id": "unknown-app"}, 400, "unauthorized_client", 700016),
    ({"scope": "User.Read.All"}, 400, "invalid_scope", 1002012),
    ({"scope": "https://management.azure.com/.default"}, 400, "invalid_resource", 500011),
    ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
    ({"scope": ""}, 400, "invalid_request", 900144),
])
async def test_token_errors(graph: Graph, fields: dict[str, str], status: int, error: str,
                            code: int) -> None:
    got_status, body = await graph.token_request(**fields)
    assert (got_status, body["error"], body["error_codes"]) == (status, error, [code])


async def test_tenant_aliases_and_emulator_scope_are_accepted(graph: Graph) -> None:
    for tenant in ("emulated.example", graph.state.credentials.tenant_id):
        status, _ = await graph.token_request(tenant=tenant)
        assert status == 200
    status, _ = await graph.token_request(scope=f"{graph.url}/.default")
    assert status == 200


async def test_openid_configuration(graph: Graph) -> None:
    async with graph.session.get(
            f"{graph.url}/emulated-tenant/v2.0/.well-known/openid-configuration") as response:
        config = await response.json()
    tenant_id = graph.state.credentials.tenant_id
    assert config["token_endpoint"] == f"{graph.url}/{tenant_id}/oauth2/v2.0/token"
    assert config["issuer"] == f"{graph.url}/{tenant_id}/v2.0"
    async with graph.session.get(
            f"{graph.url}/nobody/v2.0/.well-known/openid-configuration") as response:
        assert response.status == 400
        assert (await response.json())["error_codes"] == [90002]


class SteppedClock:
    """The time the emulator's token store reads: now, until the test moves it on."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_tokens_expire_after_their_lifetime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await start(tmp_path, token_lifetime=1) as emulator, \
            client_session(emulator.ca_file) as session:
        clock = SteppedClock()
        monkeypatch.setattr(emulator.control.tokens, "_clock", clock)
        graph = Graph(emulator, session)
        status, body = await graph.token_request()
        assert body["expires_in"] == 1
        graph.token = body["access_token"]
        issued = clock.now
        clock.now = issued + 0.999
        assert (await graph.get("/v1.0/users?$top=1"))[0] == 200
        clock.now = issued + 1  # its lifetime is over
        status, error = await graph.get("/v1.0/users?$top=1")
        assert status == 401
        assert error["error"]["code"] == "InvalidAuthenticationToken"
        assert error["error"]["message"] == "Access token has expired or is not yet valid."


async def test_graph_refuses_missing_and_unknown_tokens(graph: Graph) -> None:
    async with graph.session.get(f"{graph.url}/v1.0/users") as response:
        assert response.status == 401
        assert "WWW-Authenticate" in response.headers
        assert (await response.json())["error"]["message"] == "Access token is empty."
    graph.token = "made-up"
    status, body = await graph.get("/v1.0/users")
    assert status == 401
    assert body["error"]["code"] == "InvalidAuthenticationToken"
    assert set(body["error"]["innerError"]) == {"date", "request-id", "client-request-id"}
