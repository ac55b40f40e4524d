"""One TLS context for every token client of the process (loading the CA bundle takes 20-40 ms)."""

from __future__ import annotations

import ssl
import threading

import httpx

_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every client of the process: loading the CA bundle takes 20-40 ms.

    Built like httpx's default (certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``).
    """
    global _ssl_context
    if _ssl_context is None:
        with _ssl_lock:
            if _ssl_context is None:
                _ssl_context = httpx.create_ssl_context()
    return _ssl_context


def prepare_ssl_context() -> None:
    """Start loading the shared TLS context in the background (and the watchdog thread), once
    per process.

    A provider is usually built at start-up, well before its first token request: loading the
    CA bundle then overlaps with the app's own start instead of delaying the first token.

    The thread is not a daemon: the interpreter waits for it before it finalizes. A daemon
    thread could still be inside OpenSSL, loading the bundle, while the process's exit tears
    OpenSSL down under it (a short-lived process whose token came from the shared cache
    crashed with SIGSEGV at exit). The load takes tens of milliseconds, so exit waits that long
    at most.
    """
    if _ssl_context is None:
        loader = threading.Thread(target=shared_ssl_context, name="imstoken-tls", daemon=False)
        try:
            loader.start()
        except RuntimeError:  # the interpreter is shutting down: load on first need instead
            pass


