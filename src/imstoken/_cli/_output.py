"""What the CLI shows on stderr besides its result: warnings, a retry progress line, fetch stats.

Verbosity: ``-q`` shows errors only; the default adds warnings (unknown keys, a shared cache
that is down, the retired-JWT notice), each once; ``-v`` adds the library's INFO lines (one per
fetch, each retry), ``-vv`` its DEBUG lines. While a token request is being retried, a
progress line is drawn on stderr, only when stderr is a terminal. Every fetch that fails
after its retries leaves how many attempts it made and for how long in :class:`FetchStats`,
for the error report.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from ._shared import one_line

QUIET, NORMAL, VERBOSE, DEBUG = -1, 0, 1, 2


@dataclass
class Attempts:
    """How a failed fetch went: attempts made, and for how long (seconds)."""

    attempts: int
    seconds: float

    def describe(self) -> str:
        """``3 attempts over 0.6 s``."""
        noun = "attempt" if self.attempts == 1 else "attempts"
        return f"{self.attempts} {noun} over {self.seconds:.1f} s"


@dataclass
class FetchStats:
    """The last failed fetch of each credential (filled from the library's ERROR records)."""

    failures: dict[str, Attempts] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def failed(self, credential: str) -> Attempts | None:
        """How the last failed fetch of ``credential`` went, if one failed."""
        with self.lock:
            return self.failures.get(credential)


def is_retry(record: logging.LogRecord) -> bool:
    """A WARNING the retry loop logs before it pauses and tries again."""
    return (
        record.levelno == logging.WARNING
        and hasattr(record, "imstoken_credential")
        and not hasattr(record, "imstoken_outcome")
        and "retrying" in str(record.msg)
    )


class CliHandler(logging.Handler):
    """Writes the ``imstoken`` logger's records to stderr as the verbosity asks."""

    def __init__(self, err: TextIO, verbosity: int, stats: FetchStats) -> None:
        super().__init__(logging.DEBUG)
        self.err = err
        self.verbosity = verbosity
        self.stats = stats
        self.progress = verbosity < VERBOSE and is_terminal(err)
        self.progress_shown = False
        self.seen: set[str] = set()
        self.write_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.route(record)
        except Exception:  # noqa: BLE001 - a log line must never break a command
            self.handleError(record)

    def route(self, record: logging.LogRecord) -> None:
        if getattr(record, "imstoken_outcome", None) == "error":
            attempts = getattr(record, "imstoken_attempts", None)
            latency = getattr(record, "imstoken_latency_ms", None)
            if isinstance(attempts, int) and isinstance(latency, int | float):
                with self.stats.lock:
                    credential = str(getattr(record, "imstoken_credential", "token"))
                    self.stats.failures[credential] = Attempts(attempts, latency / 1000)
        if self.verbosity >= VERBOSE:
            if record.levelno >= (logging.DEBUG if self.verbosity >= DEBUG else logging.INFO):
                self.line(record.getMessage())
            return
        if is_retry(record):
            if self.progress:
                self.draw(record)
            return
        # The CLI reports a failed fetch itself, in one line: no second, library-worded one.
        if record.levelno == logging.WARNING and self.verbosity >= NORMAL:
            message = one_line(record.getMessage())
            if message not in self.seen:
                self.seen.add(message)
                self.line(message)

    def draw(self, record: logging.LogRecord) -> None:
        """The progress line: rewritten in place (carriage return), cleared by the next line."""
        credential = getattr(record, "imstoken_credential", "token")
        text = f"imstoken: {credential}: {one_line(record.getMessage()).removeprefix('imstoken: ')}"
        with self.write_lock:
            self.err.write("\r\x1b[2K" + text[:200])
            self.err.flush()
            self.progress_shown = True

    def line(self, text: str) -> None:
        with self.write_lock:
            if self.progress_shown:
                self.err.write("\r\x1b[2K")
                self.progress_shown = False
            self.err.write(text + "\n")
            self.err.flush()

    def clear(self) -> None:
        """Remove a progress line still on the screen."""
        with self.write_lock:
            if self.progress_shown:
                self.err.write("\r\x1b[2K")
                self.err.flush()
                self.progress_shown = False


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (a progress line only makes sense there)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


@contextlib.contextmanager
def log_to_stderr(verbosity: int, err: TextIO, stats: FetchStats) -> Iterator[CliHandler]:
    """Route the ``imstoken`` logger to a :class:`CliHandler` for the command's lifetime.

    The logger is opened to INFO even when quiet, so failed fetches still report their
    attempts; the handler decides what reaches the terminal. Propagation is off: Python's
    last-resort handler would add a second, differently worded line for every record.
    """
    logger = logging.getLogger("imstoken")
    handler = CliHandler(err, verbosity, stats)
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity >= DEBUG else logging.INFO)
    logger.propagate = False
    try:
        yield handler
    finally:
        handler.clear()
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
