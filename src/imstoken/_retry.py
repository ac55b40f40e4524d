"""Retries of one token fetch, free of I/O: the backoff and the plan that sync and async drive.

The plan yields what to do next (send an attempt within a budget, or pause) and is sent each
outcome; it returns the accepted token or raises the final error, and logs either way.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Generator
from dataclasses import dataclass

from . import _metrics as metrics
from ._backends import Backend, TokenRequest
from ._clocks import Clocks
from ._errors import TokenRequestError
from ._http import RawResponse
from ._rotation import begin_trial
from ._token import Token

logger = logging.getLogger("imstoken")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter ("decorrelated" enough for a fleet)."""

    base: float = 0.5
    cap: float = 8.0
    max_attempts: int = 6

    def delay(self, attempt: int, error: TokenRequestError, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling: float = min(self.cap, self.base * (2.0 ** (attempt - 1)))
        delay: float = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return delay


def should_retry(error: TokenRequestError, attempt: int, backoff: Backoff) -> bool:
    """Retry only what can fix itself, and only so many times."""
    return error.retryable and attempt < backoff.max_attempts


@dataclass(frozen=True, slots=True)
class SendAttempt:
    """A step of the retry plan: send ``request`` within ``budget`` seconds."""

    request: TokenRequest
    budget: float


@dataclass(frozen=True, slots=True)
class Limits:
    """How long one fetch may take: ``timeout`` per attempt, ``deadline`` for all of them."""

    timeout: float
    deadline: float
    backoff: Backoff
    rng: random.Random


#: Yields a SendAttempt (sent the RawResponse, or thrown the TokenRequestError) or a pause in
#: seconds (sent None); returns the token and the Unix time its request was sent.
RetryPlan = Generator[SendAttempt | float, RawResponse | None, tuple[Token, float]]


def retry_plan(backend: Backend, limits: Limits, clocks: Clocks) -> RetryPlan:
    """The attempts of one fetch, each within ``timeout`` and all within ``deadline``.

    An ``invalid_client`` answer is followed at once by the next configured secret (or a
    secret file's new value), once each: see :mod:`imstoken._rotation`.
    """
    begin = clocks.monotonic()
    attempt = 0
    trial = begin_trial(backend)
    while True:
        attempt += 1
        sent_at = clocks.wall()
        current = trial.backend
        request = current.build_request(sent_at)
        budget = min(limits.timeout, limits.deadline - (clocks.monotonic() - begin))
        try:
            response = yield SendAttempt(request, budget)
            assert response is not None
            token = current.parse_response(
                response.status, response.headers, response.body, sent_at
            )
        except TokenRequestError as error:
            metrics.token_request(backend.credential, metrics.outcome_of(error))
            if trial.retry_now(error):
                continue
            latency = clocks.monotonic() - begin
            delay = _next_delay(error, attempt, limits.deadline - latency, limits)
            if delay is None:
                metrics.fetch_finished(backend.credential, metrics.outcome_of(error), latency)
                _log_failure(backend, error, attempt, latency)
                raise
            logger.warning(
                "imstoken: token request failed (%s), retrying in %.2fs (attempt %d)",
                error.error or error.status_code or type(error).__name__,
                delay,
                attempt,
                extra={
                    "imstoken_credential": backend.credential,
                    "imstoken_debug_id": error.debug_id,
                },
            )
            yield delay
            continue
        trial.accepted()
        latency = clocks.monotonic() - begin
        metrics.token_request(token.credential, "success")
        metrics.fetch_finished(token.credential, "success", latency)
        if logger.isEnabledFor(logging.INFO):
            _log_success(token, sent_at, attempt, latency)
        return token, sent_at


def _next_delay(
    error: TokenRequestError, attempt: int, remaining: float, limits: Limits
) -> float | None:
    """The pause before the next attempt, or None to give up (not retryable, or no time)."""
    if not should_retry(error, attempt, limits.backoff):
        return None
    delay = limits.backoff.delay(attempt, error, limits.rng)
    return None if delay + 0.05 >= remaining else delay


def _log_failure(backend: Backend, error: TokenRequestError, attempts: int, latency: float) -> None:
    logger.error(
        "imstoken: %s token request failed after %d attempt(s) in %.0f ms: %s",
        backend.credential,
        attempts,
        latency * 1000,
        error,
        extra={
            "imstoken_credential": backend.credential,
            "imstoken_outcome": "error",
            "imstoken_error": error.error,
            "imstoken_status": error.status_code,
            "imstoken_debug_id": error.debug_id,
            "imstoken_latency_ms": latency * 1000,
            "imstoken_attempts": attempts,
        },
    )


def _log_success(token: Token, sent_at: float, attempts: int, latency: float) -> None:
    logger.info(
        "imstoken: fetched %s token in %.0f ms (%d attempt(s)), expires in %.0f s",
        token.credential,
        latency * 1000,
        attempts,
        token.expires_at - sent_at,
        extra={
            "imstoken_credential": token.credential,
            "imstoken_outcome": "fetched",
            "imstoken_expires_at": token.expires_at,
            "imstoken_latency_ms": latency * 1000,
            "imstoken_attempts": attempts,
        },
    )
