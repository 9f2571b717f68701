"""Client-credentials tokens: caching, renewal, invalidation, errors without secrets, and MSAL
itself against a local HTTPS authority with its own CA."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from aiohttp import web

from drivers.microsoft.errors import GraphAuthError, GraphConnectionError
from drivers.microsoft.graph_auth import AccessToken, GraphTokenProvider
from tests.graph.fake_graph import FakeMsalApp, token_provider

SECRET = "s3cret-value"


async def test_token_is_cached_until_renewal_is_due() -> None:
    app = FakeMsalApp(expires_in=3600)
    tokens = token_provider(app)
    first = await tokens.token()
    assert (await tokens.token()) is first
    assert app.calls == 1
    assert first.expires_at - datetime.now(UTC) > timedelta(seconds=3590)
    assert "tok-1" not in repr(first)


def test_renewal_is_due_shortly_before_expiry() -> None:
    now = datetime.now(UTC)
    token = AccessToken("t", expires_at=now + timedelta(seconds=400), lifetime=3600)
    assert not token.renew_due(now)
    assert token.renew_due(now + timedelta(seconds=101))  # within 300 s of expiry
    short = AccessToken("t", expires_at=now + timedelta(seconds=60), lifetime=60)
    assert not short.renew_due(now)
    assert short.renew_due(now + timedelta(seconds=55))


async def test_a_token_close_to_expiry_is_replaced() -> None:
    app = FakeMsalApp(expires_in=20)
    tokens = token_provider(app)
    await tokens.token()
    assert tokens.current is not None
    tokens._current = AccessToken("tok-1", datetime.now(UTC) + timedelta(seconds=1), 20)
    assert (await tokens.token()).token == "tok-2"


async def test_invalidate_drops_only_the_rejected_token() -> None:
    app = FakeMsalApp()
    tokens = token_provider(app)
    await tokens.token()
    tokens.invalidate("some-older-token")
    assert (await tokens.token()).token == "tok-1"
    tokens.invalidate("tok-1")
    assert (await tokens.token()).token == "tok-2"


async def test_token_endpoint_errors_carry_code_and_first_line_only() -> None:
    app = FakeMsalApp()
    app.error = {"error": "invalid_client",
                 "error_description": "AADSTS7000215: Invalid client secret provided.\r\n"
                                      "Trace ID: 1\r\nCorrelation ID: 2"}
    tokens = token_provider(app)
    with pytest.raises(GraphAuthError) as error:
        await tokens.token()
    assert str(error.value) == (
        "error fetching token: invalid_client: AADSTS7000215: Invalid client secret provided."
    )
    assert SECRET not in str(error.value) and SECRET not in repr(tokens)


async def test_missing_credentials_are_named_without_values() -> None:
    tokens = GraphTokenProvider(tenant="t", client_id="", client_secret="",
                                login_base_url="https://login.example", scope="s")
    with pytest.raises(GraphAuthError, match="missing client_id, client_secret"):
        await tokens.token()


async def test_unreachable_token_endpoint_is_a_connection_error() -> None:
    app = FakeMsalApp()
    app.raise_error = requests.ConnectionError("refused")
    with pytest.raises(GraphConnectionError, match="token endpoint unreachable"):
        await token_provider(app).token()


# -- MSAL itself against a local HTTPS authority ----------------------------------------------


@pytest.fixture
async def https_authority(tmp_path: Path) -> AsyncIterator[tuple[str, Path, list[dict[str, Any]]]]:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    token_posts: list[dict[str, Any]] = []

    async def discovery(request: web.Request) -> web.Response:
        base = f"https://{request.host}/{request.match_info['tenant']}"
        return web.json_response({
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "issuer": f"{base}/v2.0",
        })

    async def token(request: web.Request) -> web.Response:
        form = dict(await request.post())
        token_posts.append(form)
        if form.get("client_secret") != SECRET:
            return web.json_response({"error": "invalid_client",
                                      "error_description": "AADSTS7000215: Invalid client "
                                                           "secret provided."}, status=401)
        return web.json_response({"access_token": "local-token", "token_type": "Bearer",
                                  "expires_in": 3599})

    app = web.Application()
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", discovery)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}", ca_file, token_posts
    finally:
        await runner.cleanup()


async def test_msal_gets_a_token_from_a_private_authority_despite_ca_env_vars(
    https_authority: tuple[str, Path, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, ca_file, posts = https_authority
    # requests lets these override a session's `verify`; the provider must not be fooled
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    tokens = GraphTokenProvider(tenant="my-tenant", client_id="my-client", client_secret=SECRET,
                                login_base_url=url, scope="https://graph.example/.default",
                                ca_file=str(ca_file))
    try:
        token = await tokens.token()
    finally:
        tokens.close()
    assert token.token == "local-token"
    assert posts[0]["grant_type"] == "client_credentials"
    assert posts[0]["scope"] == "https://graph.example/.default"
    assert posts[0]["client_id"] == "my-client"


async def test_msal_reports_wrong_credentials_without_the_secret(
    https_authority: tuple[str, Path, list[dict[str, Any]]],
) -> None:
    url, ca_file, _ = https_authority
    tokens = GraphTokenProvider(tenant="my-tenant", client_id="my-client",
                                client_secret="wrong-secret-value", login_base_url=url,
                                scope="https://graph.example/.default", ca_file=str(ca_file))
    try:
        with pytest.raises(GraphAuthError) as error:
            await tokens.token()
    finally:
        tokens.close()
    assert "invalid_client" in str(error.value)
    assert "wrong-secret-value" not in str(error.value)


async def test_msal_without_the_ca_refuses_the_private_authority(
    https_authority: tuple[str, Path, list[dict[str, Any]]],
) -> None:
    url, _, _ = https_authority
    tokens = GraphTokenProvider(tenant="my-tenant", client_id="my-client", client_secret=SECRET,
                                login_base_url=url, scope="https://graph.example/.default")
    try:
        with pytest.raises(GraphConnectionError):
            await tokens.token()
    finally:
        tokens.close()
