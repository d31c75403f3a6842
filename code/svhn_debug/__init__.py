"""Experiment kit of the SVHN debugging logbook."""

from . import executed_code  # noqa: F401  (first: keeps the source as this process imports it)
from .config import COLLEAGUE, ConfigError, RunConfig, config_diff
from .profiles import active_profile, get_profile

__all__ = ["COLLEAGUE", "ConfigError", "RunConfig", "config_diff", "active_profile", "get_profile"]
__version__ = "1.0.0"
