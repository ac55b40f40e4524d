"""The thin I/O layer under a token fetch.

- ``_transport``: one attempt sent within its budget, its answer as raw values;
- ``_clients``: the httpx clients it is sent with (the caller's own, or ours);
- ``_watchdog``: the timer thread that cuts a late sync attempt's socket;
- ``_tls``: the process's shared TLS context.
"""

from ._clients import TokenClients, new_async_client, new_sync_client
from ._tls import prepare_ssl_context, shared_ssl_context
from ._transport import RawResponse, send_async, send_sync
from ._watchdog import start_watchdog_thread

__all__ = [
    "RawResponse",
    "TokenClients",
    "new_async_client",
    "new_sync_client",
    "prepare_ssl_context",
    "send_async",
    "send_sync",
    "shared_ssl_context",
    "start_watchdog_thread",
]
