"""A cheap availability probe for a sensor: is the API up, and is our token good?

One request, no retries, to ``ref/region/info/{region}``: a tiny response that
needs the token (a recorded 403 for a bad token came from this very endpoint, §1.11),
so one call answers both questions. The reason string starts with a stable phrase a
sensor can branch on or show: "ok", "token missing or invalid", "API unreachable",
"API unavailable", "API error".
"""

from __future__ import annotations

import time
from typing import NamedTuple

from databox.ebird.errors import EbirdApiError, EbirdAuthError


class ApiCheck(NamedTuple):
    ok: bool
    reason: str


def check_api(
    base_url: str, token: str | None, timeout: float = 10.0, *, region: str = "US"
) -> ApiCheck:
    """``(ok, reason)``; never raises for an API problem, and never shows the token."""
    if not token:
        return ApiCheck(False, "token missing or invalid: EBIRD_API_TOKEN is not set")
    from databox.ebird.client import EbirdClient

    client = EbirdClient(token, base_url, timeout=timeout, max_attempts=1)
    started = time.monotonic()
    try:
        client.region_info(region)
    except EbirdAuthError as exc:
        return ApiCheck(False, f"token missing or invalid (HTTP 403): {exc}")
    except EbirdApiError as exc:
        if exc.status is None:
            return ApiCheck(False, f"API unreachable: {exc}")
        if exc.status == 429 or exc.status >= 500:
            return ApiCheck(False, f"API unavailable (HTTP {exc.status}): {exc}")
        return ApiCheck(False, f"API error (HTTP {exc.status}): {exc}")
    elapsed_ms = (time.monotonic() - started) * 1000
    return ApiCheck(True, f"ok: {client.base_url} answered in {elapsed_ms:.0f} ms")
