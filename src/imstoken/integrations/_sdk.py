"""What every SDK integration shares: the lazy import, the hook check, one patch per process."""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

from .._errors import ImsTokenError

#: The attribute a patched hook carries: the SDK's own function it wraps.
ORIGINAL = "__imstoken_original__"

_patch_lock = threading.Lock()


@dataclass(frozen=True)
class Sdk:
    """One Adobe SDK: its distribution name, the extra that installs it, the versions tested."""

    distribution: str
    extra: str
    supported: str

    def version(self) -> str:
        """The installed version, or ``"unknown"``."""
        try:
            return metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            return "unknown"

    def load(self, module: str) -> ModuleType:
        """Import ``module`` of this SDK, or say which extra installs it."""
        try:
            return importlib.import_module(module)
        except ImportError as exc:
            raise ImsTokenError(
                f"{self.distribution} is not installed (or does not import: {exc}); "
                f"pip install 'imstoken[{self.extra}]'"
            ) from None

    def changed(self, what: str) -> ImsTokenError:
        """The error for an SDK whose hook is gone or reshaped."""
        return ImsTokenError(
            f"{self.distribution} {self.version()} has no {what}: it changed, and "
            f"imstoken.integrations.{self.extra} supports {self.distribution} {self.supported}"
        )

    def hook(self, owner: Any, name: str, parameters: tuple[str, ...] = ()) -> Any:
        """``owner.name``, checked to be callable and to take ``parameters``."""
        where = f"{getattr(owner, '__name__', type(owner).__name__)}.{name}"
        target = getattr(owner, name, None)
        if not callable(target):
            raise self.changed(where)
        if parameters:
            try:
                accepted = inspect.signature(getattr(target, ORIGINAL, target)).parameters
            except (TypeError, ValueError):
                raise self.changed(f"inspectable {where}") from None
            missing = [p for p in parameters if p not in accepted]
            if missing:
                raise self.changed(f"{where}({', '.join(missing)}=...)")
        return target


def patch_once(owner: Any, name: str, wrap: Callable[[Any], Callable[..., Any]]) -> None:
    """Replace ``owner.name`` by ``wrap(original)``, once per process (later calls do nothing).

    The wrapper must hand every call that is not imstoken's back to the original, so the SDK
    behaves as before for objects configured without imstoken.
    """
    with _patch_lock:
        current = getattr(owner, name)
        if getattr(current, ORIGINAL, None) is not None:
            return
        wrapper = wrap(current)
        setattr(wrapper, ORIGINAL, current)
        if isinstance(inspect.getattr_static(owner, name), staticmethod):
            setattr(owner, name, staticmethod(wrapper))
        else:
            setattr(owner, name, wrapper)
