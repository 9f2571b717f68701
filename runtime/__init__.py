"""A driver runtime that speaks the PlaceOS module protocol.

Driver authors need only what is exported here: `Driver`, `Level`, `security`, `Abort`,
`SettingNotFound`, `SettingsError` (what `settings_as` raises), and `Timer` (what
`self.schedule.every` / `in_` return).
"""

from runtime.driver import Driver
from runtime.errors import Abort, ConfigError, SettingNotFound, SettingsError
from runtime.scheduler import Timer
from runtime.security import Clearance, Level, security

__all__ = [
    "Abort",
    "Clearance",
    "ConfigError",
    "Driver",
    "Level",
    "SettingNotFound",
    "SettingsError",
    "Timer",
    "security",
]
