"""Config reload: the difference between the running and the new configuration, applied live.

The new file has already been validated as a whole (`load_config`), so a refused file changes
nothing. Applying it: removed modules stop (bound clients receive `null` for their status),
modules whose driver changed are stopped and started with the new driver, systems are replaced
(bindings are re-resolved by the host's lookup listeners), modules whose merged settings changed
get them through `on_update("settings")`, and added modules start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runtime.config import RuntimeConfig, load_driver_class
from runtime.logs import get_logger

if TYPE_CHECKING:
    from runtime.server import Runtime

log = get_logger(component="reload")


@dataclass
class ConfigChanges:
    """What applying a new configuration did, by module / system id."""

    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    systems_added: list[str] = field(default_factory=list)
    systems_removed: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, list[str]]:
        """The non-empty lists, for a log line."""
        return {key: value for key, value in vars(self).items() if value}


async def apply_config(runtime: Runtime, new: RuntimeConfig) -> ConfigChanges:
    """Bring the running modules and systems in line with `new`; returns what changed."""
    host, old = runtime.host, runtime.config
    changes = ConfigChanges(
        systems_added=[s for s in new.systems if s not in old.systems],
        systems_removed=[s for s in old.systems if s not in new.systems],
    )
    for module_id in [m for m in host.modules if m not in new.modules]:
        await host.remove_module(module_id)
        changes.removed.append(module_id)

    for module_id, module_config in new.modules.items():
        module = host.modules.get(module_id)
        if module is None:
            continue
        if module_config.driver != module.config.driver:
            await host.stop_module(module)
            module.driver_class = load_driver_class(module_config.driver)  # settings merged below
            changes.replaced.append(module_id)
        module.config = module_config

    host.set_systems(new.systems)  # also re-indexes renamed modules; bindings follow

    for module_id in changes.replaced:
        module = host.modules[module_id]
        host.replace_class(module, module.driver_class)
        await host.start_module(module)
    for module_id, module in list(host.modules.items()):
        if module_id in changes.replaced:
            continue
        merged = host.merged_settings(module_id, module.config, module.driver_class)
        if merged != module.settings:
            await host.update_settings(module, merged)
            changes.updated.append(module_id)
    for module_id, module_config in new.modules.items():
        if module_id not in host.modules:
            await host.add_module(module_id, module_config)
            changes.added.append(module_id)

    if new.server != old.server or new.auth != old.auth:
        log.warning("config: server and auth changes take effect after a restart")
    runtime.config = new.model_copy(update={"server": old.server, "auth": old.auth})
    return changes
