"""Session-wide secret-leak scan, a pytest plugin (``pytest_plugins = [..., "tests.leakscan"]``).

Across the whole test session it records

- every log record of the ``imstoken``, ``httpx`` and ``httpcore`` loggers, at *every* level:
  those loggers are made to create all records, and they pass on to their handlers exactly the
  records they passed before (``caplog`` and its friends see no difference); plus any other
  record that reaches the root logger;
- every ``ImsTokenError`` created: ``str``, ``repr``, the formatted traceback, and the ``str``
  and ``repr`` of every exception chained to it (a suppressed context included);
- ``repr`` and ``str`` of every public object created: providers, tokens, settings, backends,
  token requests, cache entries, secrets, signing keys, the local servers' credentials;
- the exception and report text of every failed test.

At the end it searches all of it for every value registered with
:func:`imstoken.testing.register_secret` (the local servers register client secrets,
private-key PEM lines, passphrases, issued tokens and received assertions), in every encoding a
secret travels in (:func:`encoded_forms`: percent- and form-encoded, JSON-escaped, inside
base64), and fails the session if one shows. Its report names where a secret was found and
never prints the secret itself.
"""

from __future__ import annotations

import base64
import collections
import functools
import json
import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

LOGGER_FAMILIES = ("imstoken", "httpx", "httpcore")
# Shorter values are not scanned: they would match by chance (and real secrets are longer).
MIN_SECRET_LENGTH = 8

# Secrets made only of these characters (base64, base64url, JWTs, PEM lines, most client
# secrets) are found through an index; the rest by plain substring search.
_ALPHABET = "A-Za-z0-9+/=_.~-"
# Indexed forms may also hold the escapes of percent-encoding and JSON (``%2B``, ``\\/``).
_INDEX_ALPHABET = _ALPHABET[:-1] + "%\\\\-"


@dataclass(frozen=True, slots=True)
class _Tier:
    """Forms at least ``shortest`` long are indexed by windows of ``probe`` characters, and
    the text is sampled ``step`` apart: every occurrence is hit."""

    shortest: int
    probe: int

    @property
    def step(self) -> int:
        return self.shortest - self.probe + 1

    @property
    def run(self) -> re.Pattern[str]:
        return re.compile(f"[{_INDEX_ALPHABET}]{{{self.shortest},}}")


# Long values (tokens, PEM lines), then shorter ones (client secrets and their base64 forms).
_TIERS = (_Tier(32, 12), _Tier(14, 8))
_IN_ALPHABET = re.compile(f"[{_INDEX_ALPHABET}]+")
_ANY_RUN = re.compile(f"[{_ALPHABET}]{{24,}}")

_STANDARD_RECORD_KEYS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 1, "x", (), None))
) | {"message", "asctime", "taskName", "_leakscan_seen"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One registered secret found in one recorded text."""

    hint: str  # the first characters and the length, never the secret
    where: str  # which test, and which kind of text
    context: str  # the text around it, the secret masked

    def __str__(self) -> str:
        return f"{self.hint} in {self.where}: ...{self.context}..."


def _lower_hex(encoded: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda match: match.group().lower(), encoded)


def _base64_cores(value: str) -> list[str]:
    """The part of any base64 text holding ``value`` that depends on ``value`` alone, for each
    of the three byte offsets it can start at (standard and URL-safe alphabets)."""
    data = value.encode()
    cores = []
    for shift, first in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(bytes(shift) + data).decode()
        core = encoded[first : (shift + len(data)) * 8 // 6]
        cores += [core, core.replace("+", "-").replace("/", "_")]
    return cores


def encoded_forms(secret: str) -> dict[str, str]:
    """Every text form of ``secret`` to look for, each with the name of its encoding."""
    percent = [quote(secret, safe=""), quote(secret), quote_plus(secret)]
    forms = {
        "percent-encoded": percent + [_lower_hex(form) for form in percent],
        "JSON-escaped": [
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1],
            json.dumps(secret)[1:-1].replace("/", "\\/"),
        ],
        "base64": [core for form in (secret, quote_plus(secret)) for core in _base64_cores(form)],
    }
    found = {secret: "raw"}
    for name, values in forms.items():
        for value in values:
            if len(value) >= MIN_SECRET_LENGTH:
                found.setdefault(value, name)
    return found


def _hint(secret: str, encoding: str = "raw") -> str:
    shown = f"{secret[:4]}...({len(secret)} chars)"
    return shown if encoding == "raw" else f"{shown}, {encoding}"


def _context(text: str, start: int, secret: str) -> str:
    before = text[max(0, start - 60) : start]
    after = text[start + len(secret) : start + len(secret) + 60]
    shown = f"{before}<SECRET>{after}".replace("\n", "\\n")
    # Other long opaque values in the context could be secrets too: shorten them.
    return _ANY_RUN.sub(lambda match: match.group()[:4] + "...", shown)


def _finding(secret: str, where: str, text: str, at: int, form: str, encoding: str) -> Finding:
    return Finding(_hint(secret, encoding), where, _context(text, at, form))


def _render_exception(error: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return texts


class LeakScanner:
    """Collects text from logs, exceptions and reprs; finds registered secrets in it."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}  # text -> where it was first seen
        self.where = "session"
        self.counts: collections.Counter[str] = collections.Counter()
        self._pending: list[tuple[str, object]] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ recording

    def add(self, kind: str, text: str) -> None:
        """Record one piece of text seen during the current test."""
        self.counts[kind] += 1
        if text and text not in self.texts:
            with self._lock:
                self.texts.setdefault(text, f"{self.where} [{kind}]")

    def record_log(self, record: logging.LogRecord) -> None:
        """Record a log record: message, exception, stack and any ``extra`` attributes."""
        kind = f"log {record.name} {record.levelname}"
        try:
            message = record.getMessage()
        except Exception:  # a broken format string still shows its parts
            message = f"{record.msg!r} % {record.args!r}"
        parts = [message]
        if record.exc_info and record.exc_info[1] is not None:
            parts += _render_exception(record.exc_info[1])
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        parts += [
            f"{key}={value!r}"
            for key, value in vars(record).items()
            if key not in _STANDARD_RECORD_KEYS
        ]
        self.add(kind, "\n".join(parts))

    def track(self, kind: str, obj: object) -> None:
        """Remember an object; its text is taken at the end of the test (when it is complete)."""
        self._pending.append((kind, obj))

    def flush(self) -> None:
        """Render what :meth:`track` remembered, and let go of the objects."""
        pending, self._pending = self._pending, []
        seen: set[int] = set()
        for kind, obj in pending:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            try:
                if isinstance(obj, BaseException):
                    texts = _render_exception(obj)
                else:
                    texts = [repr(obj), str(obj)]
            except Exception as error:  # a repr that fails is not a leak
                texts = [f"<{kind}: repr failed: {type(error).__name__}>"]
            for text in texts:
                self.add(kind, text)

    # ------------------------------------------------------------------ scanning

    def scan(self, secrets: Iterable[str]) -> list[Finding]:
        """Every (secret, text) pair where a registered secret shows, raw or encoded; at most
        one per secret."""
        self.flush()
        usable = {secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH}
        # Each form to look for -> (the secret it stands for, its encoding).
        forms: dict[str, tuple[str, str]] = {}
        for secret in usable:
            for form, encoding in encoded_forms(secret).items():
                if form not in forms or encoding == "raw":
                    forms[form] = (secret, encoding)
        indexes: list[dict[str, list[tuple[int, str]]]] = [{} for _ in _TIERS]
        plain: list[str] = []
        for form in forms:
            tier_at = next(
                (
                    at
                    for at, tier in enumerate(_TIERS)
                    if len(form) >= tier.shortest and _IN_ALPHABET.fullmatch(form)
                ),
                None,
            )
            if tier_at is None:
                plain.append(form)
                continue
            tier, index = _TIERS[tier_at], indexes[tier_at]
            for offset in range(tier.step):
                index.setdefault(form[offset : offset + tier.probe], []).append((offset, form))
        tiers = [
            (tier, tier.run, index) for tier, index in zip(_TIERS, indexes, strict=True) if index
        ]
        found: dict[str, Finding] = {}

        def note(form: str, where: str, text: str, at: int) -> None:
            secret, encoding = forms[form]
            if secret not in found:
                found[secret] = _finding(secret, where, text, at, form, encoding)

        for text, where in self.texts.items():
            for tier, run, index in tiers:
                probe_size, step = tier.probe, tier.step
                for match in run.finditer(text):
                    start, end = match.span()
                    for probe in range(start, end - probe_size + 1, step):
                        for offset, form in index.get(text[probe : probe + probe_size], ()):
                            at = probe - offset
                            if at >= start and text.startswith(form, at):
                                note(form, where, text, at)
            for form in plain:
                if forms[form][0] not in found:
                    at = text.find(form)
                    if at >= 0:
                        note(form, where, text, at)
        return list(found.values())


# ---------------------------------------------------------------------- wiring into the process


class _RootTap(logging.Handler):
    """Records what reaches the root logger from loggers this plugin did not patch."""

    def __init__(self, scanner: LeakScanner) -> None:
        super().__init__(level=0)
        self.scanner = scanner

    def emit(self, record: logging.LogRecord) -> None:
        if not getattr(record, "_leakscan_seen", False):
            self.scanner.record_log(record)


class _Installation:
    """Everything patched into the process, so it can be put back."""

    def __init__(self, scanner: LeakScanner) -> None:
        self.scanner = scanner
        self.undo: list[Callable[[], None]] = []
        self.loggers: set[str] = set()
        self.tap = _RootTap(scanner)

    def install(self) -> None:
        logging.getLogger().addHandler(self.tap)
        self.undo.append(lambda: logging.getLogger().removeHandler(self.tap))
        self.patch_loggers()
        self.patch_classes()

    def uninstall(self) -> None:
        while self.undo:
            self.undo.pop()()

    def patch_loggers(self) -> None:
        """Make every logger of the families create all records (new loggers too: call again)."""
        names = [
            name
            for name, logger in list(logging.root.manager.loggerDict.items())
            if isinstance(logger, logging.Logger)
            and any(name == family or name.startswith(family + ".") for family in LOGGER_FAMILIES)
        ]
        for family in LOGGER_FAMILIES:
            if family not in names:
                logging.getLogger(family)
                names.append(family)
        for name in names:
            if name not in self.loggers:
                self.loggers.add(name)
                self._patch_logger(logging.getLogger(name))

    def _patch_logger(self, logger: logging.Logger) -> None:
        scanner = self.scanner
        enabled = logger.isEnabledFor  # the class's method, bound: the real decision
        handle = logger.handle

        def is_enabled_for(level: int) -> bool:
            return True  # so that a record is made at every level, and recorded

        def handle_and_pass_on(record: logging.LogRecord) -> None:
            scanner.record_log(record)
            record._leakscan_seen = True
            if enabled(record.levelno):
                handle(record)

        logger.isEnabledFor = is_enabled_for  # type: ignore[method-assign]
        logger.handle = handle_and_pass_on  # type: ignore[method-assign]

        def undo() -> None:
            del logger.isEnabledFor
            del logger.handle

        self.undo.append(undo)

    def patch_classes(self) -> None:
        import imstoken
        from imstoken import _backends as backends
        from imstoken import _policy
        from imstoken import testing as imstoken_testing
        from imstoken._adapters import _requests as _requests_auth
        from imstoken._backends import _standard as standard
        from imstoken._config import Settings

        tracked: list[tuple[type[Any], str]] = [
            (imstoken.ImsTokenError, "exception"),
            (imstoken.TokenProvider, "repr TokenProvider"),
            (imstoken.Token, "repr Token"),
            (imstoken.Secret, "repr Secret"),
            (Settings, "repr Settings"),
            (_policy.Entry, "repr Entry"),
            (backends.TokenRequest, "repr TokenRequest"),
            (backends.SigningKey, "repr SigningKey"),
            (backends.AdobeOAuthBackend, "repr AdobeOAuthBackend"),
            (backends.AdobeJWTBackend, "repr AdobeJWTBackend"),
            (standard.StandardClientCredentialsBackend, "repr StandardClientCredentialsBackend"),
            (standard.StandardJWTBearerBackend, "repr StandardJWTBearerBackend"),
            (standard.ClientAuthentication, "repr ClientAuthentication"),
            (_requests_auth.RequestsAuth, "repr RequestsAuth"),
            (imstoken_testing.Credential, "repr Credential"),
            (imstoken_testing.OAuthClient, "repr OAuthClient"),
        ]
        for cls, kind in tracked:
            self._wrap_init(cls, kind, None)
        # The standard-profile server does not register its secrets itself: do it for it.
        self._wrap_init(imstoken_testing.OAuthClient, None, _register_oauth_client)
        self._wrap_init(imstoken_testing.LocalOAuthServer, None, _remember_server)

    def _wrap_init(
        self, cls: type[Any], kind: str | None, after: Callable[[Any], None] | None
    ) -> None:
        scanner = self.scanner
        had_own = "__init__" in vars(cls)
        original = cls.__init__

        @functools.wraps(original)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            if kind is not None:
                scanner.track(kind, self)
            if after is not None:
                after(self)

        cls.__init__ = __init__

        def undo() -> None:
            if had_own:
                cls.__init__ = original
            else:
                del cls.__init__

        self.undo.append(undo)


_servers: list[Any] = []


def _register_oauth_client(client: Any) -> None:
    from imstoken._backends._standard import basic_authorization
    from imstoken.testing import register_secret

    register_secret(client.client_secret)
    register_secret(client.private_key)
    if client.client_secret:
        # The Authorization header of client_secret_basic carries the secret base64-encoded.
        register_secret(basic_authorization(client.client_id, client.client_secret).split()[-1])


def _remember_server(server: Any) -> None:
    _servers.append(server)


def _register_server_secrets() -> None:
    from imstoken.testing import register_secret

    servers, _servers[:] = list(_servers), []
    for server in servers:
        for token in list(server.issued):
            register_secret(token)
        for request in list(server.requests):
            form = getattr(request, "form", {}) or {}
            for name in ("assertion", "client_assertion"):
                register_secret(form.get(name))


# ---------------------------------------------------------------------- pytest hooks

_installation: _Installation | None = None
_findings: list[Finding] = []
_secrets_scanned = 0
_scan_seconds = 0.0


def active_scanner() -> LeakScanner | None:
    """The scanner of this session (None when the plugin is not installed)."""
    return _installation.scanner if _installation is not None else None


def pytest_configure(config: pytest.Config) -> None:
    global _installation
    if _installation is None:
        _installation = _Installation(LeakScanner())
        _installation.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _installation
    if _installation is not None:
        _installation.uninstall()
        _installation = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    installation = _installation
    if installation is None:
        return (yield)
    installation.patch_loggers()  # loggers created since (httpcore makes some lazily)
    installation.scanner.flush()  # what was made between tests belongs to nobody in particular
    installation.scanner.where = item.nodeid
    try:
        return (yield)
    finally:
        installation.scanner.flush()
        _register_server_secrets()
        installation.scanner.where = "between tests"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    scanner = active_scanner()
    if scanner is not None:
        if call.excinfo is not None:
            for text in _render_exception(call.excinfo.value):
                scanner.add(f"reported exception ({call.when})", text)
        if report.failed:
            scanner.add(f"failure report ({call.when})", report.longreprtext)
    return report


def pytest_exception_interact(
    node: pytest.Item | pytest.Collector,
    call: pytest.CallInfo[Any],
    report: pytest.CollectReport | pytest.TestReport,
) -> None:
    scanner = active_scanner()
    if scanner is not None:
        scanner.add("interactive exception", report.longreprtext)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _secrets_scanned, _scan_seconds
    scanner = active_scanner()
    if scanner is None:
        return
    from imstoken.testing import registered_secrets

    _register_server_secrets()
    secrets = registered_secrets()
    _secrets_scanned = len(secrets)
    started = time.perf_counter()
    _findings[:] = scanner.scan(secrets)
    _scan_seconds = time.perf_counter() - started
    if _findings and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    scanner = active_scanner()
    if scanner is None:
        return
    counts = scanner.counts
    logs = sum(value for key, value in counts.items() if key.startswith("log "))
    exceptions = sum(value for key, value in counts.items() if "exception" in key)
    objects = sum(value for key, value in counts.items() if key.startswith("repr "))
    summary = (
        f"leak scan: {len(_findings)} of {_secrets_scanned} registered secrets found in "
        f"{len(scanner.texts)} distinct texts ({logs} log records, {exceptions} exception "
        f"texts, {objects} object reprs) in {_scan_seconds:.2f}s"
    )
    if _findings:
        terminalreporter.write_sep("=", "SECRET LEAK", red=True, bold=True)
        for finding in _findings:
            terminalreporter.write_line(str(finding), red=True)
        terminalreporter.write_line(summary, red=True, bold=True)
    else:
        terminalreporter.write_line(summary)
