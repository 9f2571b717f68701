"""Redis key and channel names, exactly as PlaceOS writes them, and the cluster's limits."""

from __future__ import annotations

#: The service name PlaceOS core registers under (`{service_core}_lookup`, ...).
SERVICE = "core"
LOOKUP_KEY = f"{{service_{SERVICE}}}_lookup"
VERSION_KEY = f"{{service_{SERVICE}}}_version"
NODE_KEY_PREFIX = f"{{service_{SERVICE}}}."
CLUSTER_VERSION_CHANNEL = "cluster/cluster_version"
LOOKUP_CHANGE_CHANNEL = "lookup-change"
#: Where the generated host-to-host secret is kept when the config gives none.
SECRET_KEY = "placeos-runtime/cluster-secret"
#: Set once interfaces and lookups are written; its absence means Redis lost its data.
SEED_MARKER = "placeos-runtime/seeded"

#: Seconds a node registration (and a module lease) lives without a heartbeat.
DEFAULT_TTL = 6.0
#: Seconds between pings on the pub/sub connection; a missing pong means it stalled.
WATCHDOG_INTERVAL = 3.0


def node_key(ulid: str) -> str:
    """`{service_core}.<ULID>`: one live node's registration."""
    return NODE_KEY_PREFIX + ulid


def status_key(module_id: str) -> str:
    """Hash of a module's status: field = status name, value = JSON text."""
    return f"status/{module_id}"


def status_channel(module_id: str, key: str) -> str:
    """Channel carrying every change of one status (JSON text or `null`)."""
    return f"status/{module_id}/{key}"


def system_key(sys_id: str) -> str:
    """Hash of a system's lookup: field `<Name>/<index>` -> module id."""
    return f"system/{sys_id}"


def interface_key(module_id: str) -> str:
    """String holding a module's driver metadata JSON."""
    return f"interface/{module_id}"


def lease_key(module_id: str) -> str:
    """String naming the host that may run (and write the status of) a module."""
    return f"owner/{module_id}"


def parse_status_channel(channel: str) -> tuple[str, str] | None:
    """(module id, status name) of a status channel, or None for another channel."""
    if not channel.startswith("status/"):
        return None
    module_id, sep, key = channel[7:].partition("/")
    return (module_id, key) if sep and module_id else None


def text(value: bytes | str) -> str:
    """A Redis reply as text."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
