"""Configuration: mappings, ``IMS_*`` variables and files in; validated ``Settings`` out.

Every ``ConfigError`` is raised here, eagerly, before any request is sent; it names the key
(and where it came from), never the value. What the rest of imstoken uses is re-exported here;
the modules behind it are this package's own business.
"""

from ._keys import load_signing_key
from ._settings import (
    ALIASES,
    ENV_VARS,
    IGNORED_KEYS,
    KNOWN_KEYS,
    PRODUCTION_HOST,
    STAGE_HOST,
    Settings,
    build_settings,
    check_url,
    chosen_credential,
    expand_user,
    merge,
)
from ._sources import (
    ENV_REFERENCE_KEYS,
    env_to_config,
    load_file_config,
    read_config_file,
    resolve_env_references,
)

__all__ = [
    "ALIASES",
    "ENV_REFERENCE_KEYS",
    "ENV_VARS",
    "IGNORED_KEYS",
    "KNOWN_KEYS",
    "PRODUCTION_HOST",
    "STAGE_HOST",
    "Settings",
    "build_settings",
    "check_url",
    "chosen_credential",
    "env_to_config",
    "expand_user",
    "load_file_config",
    "load_signing_key",
    "merge",
    "read_config_file",
    "resolve_env_references",
]
