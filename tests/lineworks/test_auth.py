"""Service-account JWT, the token request, token caching and re-issue, key handling."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from drivers.lineworks.auth import GRANT_TYPE, ServiceAccount, TokenProvider, build_assertion
from drivers.lineworks.calendar import _ssl_context
from drivers.lineworks.errors import LineWorksAuthError
from embedded.settings import lineworks_settings
from fixtures import lineworks_emulator
from fixtures.emulator_base import RunningEmulator
from runtime.testing import ExecError
from tests.lineworks.helpers import (
    DAY,
    HARUTO,
    SYS,
    control,
    lineworks_runtime,
    request_log,
    wait_status,
)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt,
                             serialization.NoEncryption()).decode()


def _account(emulator: RunningEmulator, key: rsa.RSAPrivateKey | None = None) -> ServiceAccount:
    settings = lineworks_settings(emulator)["lineworks"]
    if key is None:
        loaded = serialization.load_pem_private_key(
            Path(settings["private_key_file"]).read_bytes(), None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        key = loaded
    return ServiceAccount(settings["client_id"], settings["client_secret"],
                          settings["service_account"], key)


def test_assertion_claims_and_header() -> None:
    key = _new_key()
    account = ServiceAccount("client-1", "secret-1", "svc.serviceaccount", key)
    token = build_assertion(account, now=1_700_000_000.7)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT"}
    claims = jwt.decode(token, key.public_key(), algorithms=["RS256"],
                        options={"verify_exp": False, "verify_iat": False})
    assert claims == {"iss": "client-1", "sub": "svc.serviceaccount", "iat": 1_700_000_000,
                      "exp": 1_700_003_600}
    with pytest.raises(ValueError, match=r"1\.\.3600"):
        build_assertion(account, now=0, lifetime=3601)
    assert "secret-1" not in repr(account) and "RSAPrivateKey" not in repr(account)


async def test_token_request_form_and_caching(emulator: RunningEmulator) -> None:
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        await wait_status(client, "connected", True)
        now = int(time.time())
        for _ in range(3):
            await client.exec(SYS, "Calendar", "list_events", [HARUTO, now, now + DAY])
    tokens = await request_log(emulator, "/oauth2/v2.0/token")
    assert len(tokens) == 1, "the token is cached between calls"
    assert tokens[0]["method"] == "POST" and tokens[0]["status"] == 200
    assert tokens[0]["body"] == {"assertion": "***", "grant_type": GRANT_TYPE,
                                 "client_id": "emulated-client", "client_secret": "***",
                                 "scope": "calendar"}


async def test_expired_token_is_reissued_and_request_retried(emulator: RunningEmulator) -> None:
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        await wait_status(client, "connected", True)
        await control(emulator, "DELETE", "requests")
        await control(emulator, "POST", "faults", {"expire_tokens": True})
        now = int(time.time())
        events = await client.exec(SYS, "Calendar", "list_events", [HARUTO, now - DAY, now + DAY])
        assert any(event["id"] == "ev-design-review" for event in events)
    log = [(e["method"], e["path"].split("/")[-1], e["status"])
           for e in await request_log(emulator)]
    assert log == [("GET", "events", 401), ("POST", "token", 200), ("GET", "events", 200)]


async def test_token_cached_until_shortly_before_expiry(emulator: RunningEmulator) -> None:
    clock = [1000.0]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(
            ssl=_ssl_context(str(emulator.ca_file)))) as session:
        provider = TokenProvider(_account(emulator), emulator.url + "/oauth2/v2.0/token",
                                 session, clock=lambda: clock[0])
        first = await provider.token()
        clock[0] += 86400 - 61  # lifetime 86400 s, refreshed 60 s early
        assert await provider.token() == first
        clock[0] += 2
        second = await provider.token()
        assert second != first and provider.issued_count == 2
        provider.invalidate("some-other-token")
        assert await provider.token() == second
        provider.invalidate(second)
        assert await provider.token() not in (first, second)


async def test_bad_signature_is_a_clear_auth_error(emulator: RunningEmulator) -> None:
    wrong_key = _pem(_new_key(), serialization.PrivateFormat.PKCS8)
    settings = {"lineworks": {"private_key": wrong_key}}
    async with lineworks_runtime(emulator, settings) as rt, rt.client() as client:
        await wait_status(client, "connected", False)
        with pytest.raises(ExecError) as caught:
            await client.exec(SYS, "Calendar", "get_default_calendar", [HARUTO])
    message = caught.value.msg
    assert caught.value.error_code == 3
    assert "LINE WORKS token request failed: HTTP 400 invalid_grant" in message
    assert "signature verification failed" in message
    assert message.endswith("(LineWorksAuthError)")
    assert "PRIVATE KEY" not in message


async def test_wrong_client_secret_is_refused(emulator: RunningEmulator) -> None:
    async with lineworks_runtime(emulator, {"lineworks": {"client_secret": "nope"}}) as rt, \
            rt.client() as client:
        await wait_status(client, "connected", False)
        with pytest.raises(ExecError, match="HTTP 401 invalid_client"):
            await client.exec(SYS, "Calendar", "get_default_calendar", [HARUTO])


async def test_token_endpoint_rejects_claims_the_driver_never_sends(
        emulator: RunningEmulator) -> None:
    account = _account(emulator)
    now = int(time.time())
    base = {"iss": account.client_id, "sub": account.service_account, "iat": now,
            "exp": now + 600}
    cases = [
        ({**base, "iss": "other-client"}, "iss must be the app's Client ID"),
        ({**base, "sub": "someone.serviceaccount"}, "sub must be the app's service account"),
        ({**base, "exp": now + 3601}, "at most 60 minutes after iat"),
        ({**base, "iat": now - 7200, "exp": now - 3600}, "assertion has expired"),
        ({k: v for k, v in base.items() if k != "sub"}, "missing the sub claim"),
    ]
    token_url = emulator.url + "/oauth2/v2.0/token"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(
            ssl=_ssl_context(str(emulator.ca_file)))) as session:
        for claims, problem in cases:
            form = {"assertion": jwt.encode(claims, account.private_key, algorithm="RS256"),
                    "grant_type": GRANT_TYPE, "client_id": account.client_id,
                    "client_secret": account.client_secret, "scope": "calendar"}
            async with session.post(token_url, data=form) as response:
                body = await response.json()
            assert response.status == 400 and body["error"] == "invalid_grant", body
            assert problem in body["error_description"]
        form["assertion"] = jwt.encode(base, account.private_key, algorithm="RS256")
        form["scope"] = "calendar mail"
        async with session.post(token_url, data=form) as response:
            assert (await response.json())["error"] == "invalid_scope"
        form["scope"], form["grant_type"] = "calendar", "client_credentials"
        async with session.post(token_url, data=form) as response:
            assert (await response.json())["error"] == "unsupported_grant_type"
        provider = TokenProvider(
            ServiceAccount(account.client_id, account.client_secret, account.service_account,
                           account.private_key, scope="calendar.read"), token_url, session)
        assert await provider.token()


async def test_public_key_option_and_pkcs1_key_text(tmp_path: Path) -> None:
    key = _new_key()
    public_file = tmp_path / "app-public.pem"
    public_file.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    async with await lineworks_emulator.start(tmp_path / "certs",
                                              public_key=public_file) as emulator:
        settings = lineworks_settings(emulator)
        assert "private_key_file" not in settings["lineworks"]
        assert not (tmp_path / "certs" / "lineworks-private-key.pem").exists()
        pkcs1 = _pem(key, serialization.PrivateFormat.TraditionalOpenSSL)
        assert pkcs1.startswith("-----BEGIN RSA PRIVATE KEY-----")
        async with lineworks_runtime(emulator, {"lineworks": {"private_key": pkcs1}}) as rt, \
                rt.client() as client:
            calendar = await client.exec(SYS, "Calendar", "get_default_calendar", [HARUTO])
    assert calendar["calendarEmail"] == HARUTO


async def test_unusable_key_settings_are_reported(emulator: RunningEmulator,
                                                  tmp_path: Path) -> None:
    cases = [
        ({"private_key": "not a key"}, "lineworks.private_key is not an unencrypted PEM RSA"),
        ({"private_key_file": str(tmp_path / "missing.pem")},
         "lineworks.private_key_file: cannot read"),
        ({"private_key_file": ""}, "lineworks.private_key or lineworks.private_key_file is "
                                   "required"),
    ]
    for lineworks, problem in cases:
        async with lineworks_runtime(emulator, {"lineworks": lineworks}) as rt, \
                rt.client() as client:
            with pytest.raises(ExecError) as caught:
                await client.exec(SYS, "Calendar", "list_calendars", [HARUTO])
            assert problem in caught.value.msg
            assert caught.value.msg.endswith("(LineWorksConfigError)")
            assert rt.driver("mod-lw").status["connected"] is False


def test_auth_error_class_carries_both_fields() -> None:
    error = LineWorksAuthError.from_body(400, {"error": "invalid_grant",
                                               "error_description": "bad"},
                                         context="token request")
    assert (error.code, error.description, error.status) == ("invalid_grant", "bad", 400)
