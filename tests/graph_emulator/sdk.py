"""Microsoft's own Graph SDK for Python (msgraph-sdk, Kiota) pointed at a running Graph emulator.

Nothing in the SDK is changed: the token comes from azure-identity's `ClientSecretCredential`
with the emulator as authority, both HTTP stacks trust the emulator's CA through their ordinary
options, and the request adapter's base URL is the emulator's service root.
"""

from __future__ import annotations

import ssl
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph_core import GraphClientFactory
from msgraph_core.requests.batch_request_item import BatchRequestItem

from fixtures.emulator_base import RunningEmulator

GRAPH_SCOPES = ["https://graph.microsoft.com/.default"]


@dataclass
class Sdk:
    """A GraphServiceClient and the credential behind it."""

    client: GraphServiceClient
    credential: ClientSecretCredential
    adapter: GraphRequestAdapter
    service_root: str

    def batch_item(self, request: RequestInformation, item_id: str) -> BatchRequestItem:
        """A `$batch` part whose URL is relative to the service root, as Graph requires.

        msgraph-core keeps the absolute URL of the request (msgraph-sdk-python #1015,
        msgraph-sdk-python-core #1116), which Graph refuses; the documented workaround is to
        give the item its relative URL.
        """
        item = BatchRequestItem(request_information=request, id=item_id)
        absolute = urllib.parse.urlsplit(item.url)
        root_path = urllib.parse.urlsplit(self.service_root).path
        relative = absolute.path.removeprefix(root_path)
        item.url = relative + (f"?{absolute.query}" if absolute.query else "")
        return item


@asynccontextmanager
async def graph_sdk(emulator: RunningEmulator, *, tenant: str = "emulated-tenant",
                    client_id: str = "emulated-client",
                    client_secret: str = "emulated-secret") -> AsyncIterator[Sdk]:
    """An msgraph-sdk client for `emulator`, closed on exit."""
    ca_file = str(emulator.ca_file)
    credential = ClientSecretCredential(tenant, client_id, client_secret,
                                        authority=emulator.url,
                                        disable_instance_discovery=True,
                                        connection_verify=ca_file)
    host = urllib.parse.urlsplit(emulator.url).hostname or "127.0.0.1"
    auth = AzureIdentityAuthenticationProvider(credential, scopes=GRAPH_SCOPES,
                                               allowed_hosts=[host])
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file)))
    adapter = GraphRequestAdapter(auth, client=http)
    service_root = f"{emulator.url}/v1.0"
    adapter.base_url = service_root
    try:
        yield Sdk(GraphServiceClient(request_adapter=adapter), credential, adapter,
                  service_root)
    finally:
        await http.aclose()
        await credential.close()
