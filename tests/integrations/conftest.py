"""Fixtures of the SDK integration tests (run in nox sessions, one SDK per environment)."""

from __future__ import annotations

from .fake_api import api_for

__all__ = ["api_for"]
