"""Secret rotation: a credential with several client secrets, or secrets read from files.

``client_secrets = [a, b]``: ``a`` is used; when the endpoint answers ``invalid_client``, ``b``
is tried at once (not after a backoff pause: it is another credential, not a retry) and, if it
is accepted, used from then on by every provider of that credential in the process, with one
WARNING that names the index, never the value. A secret file that changed is read again
before each fetch and after an ``invalid_client``.

Backends stay sans-I/O and frozen: a :class:`RotatingBackend` holds one backend per secret
and says which is in use; a :class:`Trial` is one fetch's walk through them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace

from ._backends import Backend, TokenRequest
from ._config import Settings
from ._errors import ConfigError, TokenRequestError
from ._secret_files import SettingsSource
from ._token import CredentialKind, Token

logger = logging.getLogger("imstoken")

# The secret each credential uses, by identity (cache key and number of secrets): one
# provider's rotation holds for every provider of that credential in the process.
_chosen: dict[str, int] = {}
_chosen_lock = threading.Lock()


def is_invalid_client(error: TokenRequestError) -> bool:
    """Whether the endpoint refused the client's secret (RFC 6749 §5.2 ``invalid_client``)."""
    return error.error == "invalid_client"


class RotatingBackend:
    """A :class:`~imstoken._backends.Backend` over one backend per configured secret."""

    def __init__(
        self,
        candidates: tuple[Backend, ...],
        *,
        identity: str,
        label: str = "client_secrets",
        source: SettingsSource | None = None,
        build: Callable[[Settings], tuple[Backend, ...]] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._candidates = candidates
        self._identity = identity
        self._label = label
        self._source = source
        self._build = build
        self._reload_warned = False
        self._generation = 0
        with _chosen_lock:
            self._active = min(_chosen.get(identity, 0), len(candidates) - 1)

    def __repr__(self) -> str:
        return f"RotatingBackend({len(self._candidates)} secret(s), using #{self._active})"

    # ------------------------------------------------------------------ the Backend protocol

    @property
    def active(self) -> Backend:
        """The backend of the secret in use."""
        with self._lock:
            return self._candidates[self._active]

    @property
    def count(self) -> int:
        """How many secrets the credential has."""
        return len(self._candidates)

    @property
    def credential(self) -> CredentialKind:
        """``"jwt"`` or ``"oauth"``."""
        return self.active.credential

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        return self.active.token_url

    def build_request(self, now: float) -> TokenRequest:
        """The request the secret in use makes."""
        return self.active.build_request(now)

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes, sent_at: float
    ) -> Token:
        """Read a response as the secret in use does."""
        return self.active.parse_response(status, headers, body, sent_at)

    def sealing_material(self) -> bytes:
        """The active secret's sealing material (shared-record sealing follows a rotation)."""
        material = getattr(self.active, "sealing_material", None)
        if material is None:
            raise ConfigError("this credential's backend has no sealing material")
        value: bytes = material()
        return value

    def candidate(self, index: int) -> Backend:
        """The backend of secret number ``index`` (``imstoken check`` tries each)."""
        return self._candidates[index]

    # ------------------------------------------------------------------ rotation

    def snapshot(self) -> tuple[tuple[Backend, ...], int, int]:
        """(candidates, active index, generation), read together."""
        with self._lock:
            return self._candidates, self._active, self._generation

    def follow_files(self) -> bool:
        """Build the candidates again if a secret file changed; True if they were."""
        source, build = self._source, self._build
        if source is None or build is None or not source.files.changed():
            return False
        try:
            settings = source.settle()
            candidates = build(settings)
        except ConfigError as error:
            if not self._reload_warned:
                self._reload_warned = True
                logger.warning(
                    "imstoken: a changed secret file gives no usable credential (%s); keeping "
                    "the last good one",
                    error,
                )
            return False
        with self._lock:
            self._reload_warned = False
            self._candidates = candidates
            self._active = min(self._active, len(candidates) - 1)
            self._generation += 1
        logger.info("imstoken: a secret file changed; its new value is used from now on")
        return True

    def accept(self, index: int, generation: int) -> None:
        """Secret ``index`` was just accepted: use it from now on (one WARNING on a switch)."""
        with self._lock:
            if generation != self._generation or index == self._active:
                return
            previous, self._active = self._active, index
        with _chosen_lock:
            _chosen[self._identity] = index
        logger.warning(
            "imstoken: %s[%d] was refused (invalid_client); %s[%d] was accepted and is used "
            "from now on in this process",
            self._label,
            previous,
            self._label,
            index,
            extra={"imstoken_secret_index": index},
        )


class Trial:
    """One fetch's walk through the secrets: the one in use, then each other one once."""

    __slots__ = ("_candidates", "_generation", "_order", "_position", "_reloaded", "_rotation")

    def __init__(self, rotation: RotatingBackend | None, backend: Backend) -> None:
        self._rotation = rotation
        self._reloaded = False
        self._position = 0
        if rotation is None:
            self._candidates: tuple[Backend, ...] = (backend,)
            self._order: tuple[int, ...] = (0,)
            self._generation = 0
        else:
            rotation.follow_files()
            self._start()

    def _start(self) -> None:
        assert self._rotation is not None
        self._candidates, active, self._generation = self._rotation.snapshot()
        others = tuple(i for i in range(len(self._candidates)) if i != active)
        self._order = (active, *others)
        self._position = 0

    @property
    def backend(self) -> Backend:
        """The backend to send the next attempt with."""
        return self._candidates[self._order[self._position]]

    def retry_now(self, error: TokenRequestError) -> bool:
        """After ``error``: True if another secret (or a changed file's) should be tried now."""
        if self._rotation is None or not is_invalid_client(error):
            return False
        if not self._reloaded:
            self._reloaded = True
            if self._rotation.follow_files():
                self._start()
                return True
        if self._position + 1 < len(self._order):
            self._position += 1
            return True
        return False

    def accepted(self) -> None:
        """The last attempt's secret was accepted."""
        if self._rotation is not None:
            self._rotation.accept(self._order[self._position], self._generation)


def begin_trial(backend: Backend) -> Trial:
    """A fetch's trial: secret files followed, the secret in use first."""
    if isinstance(backend, RotatingBackend):
        return Trial(backend, backend)
    return Trial(None, backend)


def credential_backend(settings: Settings, build: Callable[[Settings], Backend]) -> Backend:
    """The backend for ``settings``: ``build``'s, or a rotating one over each of its secrets
    when there are several or one comes from a file."""

    def candidates(current: Settings) -> tuple[Backend, ...]:
        if len(current.client_secrets) < 2:
            return (build(current),)
        return tuple(build(replace(current, client_secret=s)) for s in current.client_secrets)

    built = candidates(settings)
    if len(built) == 1 and settings.source is None:
        return built[0]
    identity = f"{settings.cache_key()}#{len(built)}"
    return RotatingBackend(built, identity=identity, source=settings.source, build=candidates)
