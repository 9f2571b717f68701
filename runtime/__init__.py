"""A driver runtime that speaks the PlaceOS module protocol.

Driver authors need only what is exported here: `Driver`, `Level`, `security`, `Abort`,
`SettingNotFound`.
"""

from runtime.driver import Driver
from runtime.errors import Abort, ConfigError, SettingNotFound
from runtime.security import Clearance, Level, security

__all__ = ["Abort", "Clearance", "ConfigError", "Driver", "Level", "SettingNotFound", "security"]
