"""Configuration: mappings, ``IMS_*`` variables and files in; validated ``Settings`` out.

Every ``ConfigError`` is raised here, eagerly, before any request is sent; it names the key
(and where it came from), never the value. What the rest of imstoken uses is re-exported here;
the modules behind it are this package's own business:

- ``_schema``: hosts, key names, ``ENV_VARS``, ``ALIASES`` and the ``Settings`` dataclass;
- ``_values``: value checks (``as_str``, ``check_url``, ...) and ``config_error``;
- ``_merge``: aliases, unknown keys and the ``[jwt]``/``[oauth]`` overlay;
- ``_settings``: the settings of a mapping, with ``_adobe`` and ``_standard`` for each profile;
- ``_origin``: where a mapping came from, and ``build_settings``, whose errors name it;
- ``_urls``: URL and host-name rules;
- ``_keys``: private keys; ``_sources``: variables, files and ``{ env = "NAME" }``;
- ``_console_project`` and ``_google``: Developer Console and Google files as configurations;
- ``_console`` and ``_toml``: ``imstoken convert`` and the TOML it writes.
"""

from ._keys import load_signing_key
from ._merge import chosen_credential, merge
from ._origin import build_settings
from ._schema import (
    ALIASES,
    ENV_VARS,
    IGNORED_KEYS,
    KNOWN_KEYS,
    PRODUCTION_HOST,
    STAGE_HOST,
    Settings,
)
from ._sources import (
    ENV_REFERENCE_KEYS,
    env_to_config,
    load_file_config,
    read_config_file,
    resolve_env_references,
    settle_settings,
)
from ._values import check_url, expand_user

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
    "settle_settings",
]
