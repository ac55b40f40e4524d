"""Adobe's Python SDKs, taking their tokens from a :class:`imstoken.TokenProvider`.

One module per SDK, each imported on use (so the SDK is imported only then), each named by
an extra::

    pip install 'imstoken[umapi]'         # imstoken.integrations.umapi
    pip install 'imstoken[aepp]'          # imstoken.integrations.aepp
    pip install 'imstoken[aanalytics2]'   # imstoken.integrations.aanalytics2
    pip install 'imstoken[cjapy]'         # imstoken.integrations.cjapy
    pip install 'imstoken[pdfservices]'   # imstoken.integrations.pdfservices

Every module checks, when first used, that the SDK still has the hook it relies on; if the
SDK changed, it raises an :class:`imstoken.ImsTokenError` naming the SDK and the versions it
supports, rather than failing at the first API call. See docs/adobe-sdks.md.
"""

from __future__ import annotations

__all__: list[str] = []
