"""The `$interface` status: tells bound clients that a module's commands or metadata changed.

After hot reload gives a module new driver code (or a config reload gives it another driver), the
runtime sets the module's reserved status `$interface` to a digest of its driver metadata. A
client that binds `$interface` receives a notify whenever the digest changes (and `null` while a
restarted module has no value yet), and then fetches the functions listing again. Status names
starting with `$` are reserved for the runtime.
"""

from __future__ import annotations

import hashlib

import orjson

from runtime.modules import Module
from runtime.status import StatusStore

INTERFACE_STATUS = "$interface"
#: Hex digits of the SHA-256 digest kept in the status value.
DIGEST_LENGTH = 16


def interface_digest(module: Module) -> str:
    """A short digest of the module's driver metadata (commands, parameters, security)."""
    options = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    encoded = orjson.dumps(module.interface.metadata, option=options, default=repr)
    return hashlib.sha256(encoded).hexdigest()[:DIGEST_LENGTH]


def publish_interface(store: StatusStore, module: Module) -> bool:
    """Set `$interface` to the module's current digest; False when it was already that."""
    return store.set(module.id, INTERFACE_STATUS, orjson.dumps(interface_digest(module)))
