"""A small eBird API 2.0 client over dlt's retrying ``requests`` session.

Retries are dlt's, not ours: ``dlt.sources.helpers.requests.Client`` wraps the
session's ``send`` in a tenacity policy that retries 429, every 5xx, connection
errors and timeouts with exponential backoff (``backoff_factor * 2**(attempt-1)``
seconds, capped at ``max_retry_delay``, or the server's ``Retry-After``). We create
it with ``raise_for_status=False`` so that once the attempts are spent we get the
last response back and can raise one loud ``EbirdApiError`` naming the request.

The token goes in the ``X-eBirdApiToken`` header of **every** request, reference
data (taxonomy, hotspots) included: the API documents the header for every endpoint,
and a server that enforces it answers 403 to a request without it. Only the header:
URLs (and hence every message and log line, which show the URL) never contain it.
Without a token no request is sent at all (``EbirdAuthError`` naming EBIRD_API_TOKEN).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from databox.ebird.errors import EbirdApiError, EbirdAuthError, EbirdBadRequest
from databox.ebird.settings import DEFAULT_BASE_URL

__all__ = ["DEFAULT_BASE_URL", "TOKEN_HEADER", "EbirdClient", "safe_url"]
TOKEN_HEADER = "X-eBirdApiToken"
TOKEN_ENV = "EBIRD_API_TOKEN"

log = logging.getLogger(__name__)


def safe_url(url: str) -> str:
    """``url`` without a ``key=`` query parameter (the API's other way to pass the
    token, §1.1). We never send one, but a base URL from a config file might."""
    parts = urlsplit(url)
    if "key=" not in parts.query:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "key"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _error_title(response: Any) -> str | None:
    """The ``title`` of ``{"errors": [{"status", "code", "title"}]}`` (§1.11), if any."""
    try:
        body = response.json()
        return str(body["errors"][0]["title"])
    except Exception:  # empty body (403), HTML from a proxy, …
        return None


class EbirdClient:
    """GET requests against the eBird API; one instance may be shared by threads
    (dlt's ``Client`` keeps one session per thread).

    ``max_attempts`` counts the first try. Tests pass a tiny ``backoff_factor``.
    """

    def __init__(
        self,
        token: str | None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_factor: float = 1.0,
        max_retry_delay: float = 60.0,
        max_connections: int = 4,
    ):
        # Imported here: dlt costs ~1.5 s to import, and settings/errors need none of it.
        from dlt.sources.helpers.requests import Client

        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._token = token or None
        self.max_attempts = max_attempts
        self.timeout = timeout
        # Every argument explicit: dlt's Client.__init__ is wrapped in config injection
        # and would otherwise fill gaps from RUNTIME__REQUEST_* settings.
        self._http = Client(
            request_timeout=timeout,
            max_connections=max_connections,
            raise_for_status=False,
            request_max_attempts=max_attempts,
            request_backoff_factor=backoff_factor,
            request_max_retry_delay=max_retry_delay,
            respect_retry_after_header=True,
        )

    def __repr__(self) -> str:  # the token is never shown, only whether there is one
        token = "set" if self._token else "missing"
        return f"EbirdClient(base_url={self.base_url!r}, token={token})"

    @property
    def has_token(self) -> bool:
        return self._token is not None

    # -- transport ---------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None):
        """GET ``base_url/path`` with the token header; returns the 2xx
        ``requests.Response`` or raises ``EbirdAuthError`` (no token, or 403),
        ``EbirdBadRequest`` (400) or ``EbirdApiError``."""
        from dlt.sources.helpers.requests import Request, RequestException

        url = f"{self.base_url}/{path.lstrip('/')}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        shown = safe_url(Request("GET", url, params=clean).prepare().url or url)
        if not self._token:
            raise EbirdAuthError(
                f"GET {shown}: no eBird API token; set {TOKEN_ENV} "
                "(get a key at https://ebird.org/api/keygen)",
                url=shown,
            )
        headers = {"Accept": "application/json", TOKEN_HEADER: self._token}
        try:
            response = self._http.get(url, params=clean, headers=headers)
        except RequestException as exc:
            # Connection refused, timeouts, dropped connections: dlt retried them
            # ``max_attempts`` times and re-raised the last one. ``from None``: the
            # requests exception holds the prepared request, token header included.
            raise EbirdApiError(
                f"GET {shown}: no response after {self.max_attempts} attempt(s): "
                f"{type(exc).__name__}: {exc}",
                url=shown,
            ) from None
        status = response.status_code
        if status < 400:
            return response
        title = _error_title(response)
        head = f"GET {shown}: HTTP {status} {response.reason or ''}".rstrip()
        if status == 403:
            raise EbirdAuthError(
                f"{head}: the eBird API token ({TOKEN_ENV}) is missing or invalid",
                url=shown,
                status=status,
                title=title,
            )
        if status == 400:
            raise EbirdBadRequest(
                f"{head}: {title or response.text[:300]}", url=shown, status=status, title=title
            )
        if status == 429 or status >= 500:  # the statuses dlt retries
            head += f" after {self.max_attempts} attempt(s)"
        raise EbirdApiError(
            f"{head}: {title}" if title else head, url=shown, status=status, title=title
        )

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        response = self.get(path, params)
        try:
            return response.json()
        except ValueError:
            ctype = response.headers.get("Content-Type", "?")
            raise EbirdApiError(
                f"GET {safe_url(response.url)}: the response is not JSON "
                f"(Content-Type {ctype}): {response.text[:200]!r}",
                url=safe_url(response.url),
                status=response.status_code,
            ) from None

    def _get_list(self, path: str, params: Mapping[str, Any] | None = None) -> list:
        data = self.get_json(path, params)
        if not isinstance(data, list):
            raise EbirdApiError(
                f"GET {self.base_url}/{path}: expected a JSON array, got {type(data).__name__}",
                url=f"{self.base_url}/{path}",
            )
        return data

    # -- endpoints (shared/docs/sources.md §1.4-§1.10) -----------------------------------
    def recent_observations(
        self,
        region: str,
        *,
        back: int = 14,
        max_results: int | None = None,
        hotspot: bool | None = None,
    ) -> list[dict[str, Any]]:
        """The most recent observation of each species (always "simple" detail)."""
        params = {"back": back, "maxResults": max_results, "hotspot": _flag(hotspot)}
        return self._get_list(f"data/obs/{_seg(region)}/recent", params)

    def notable_observations(
        self, region: str, *, back: int = 14, detail: str = "full", max_results: int | None = None
    ) -> list[dict[str, Any]]:
        params = {"back": back, "detail": detail, "maxResults": max_results}
        return self._get_list(f"data/obs/{_seg(region)}/recent/notable", params)

    def historic_observations(
        self, region: str, day: date, *, detail: str = "full", rank: str = "mrec"
    ) -> list[dict[str, Any]]:
        """One observation per taxon seen on ``day`` (``rank`` picks which)."""
        # Zero-padded, as every client library sends it (§1.6).
        path = f"data/obs/{_seg(region)}/historic/{day:%Y/%m/%d}"
        return self._get_list(path, {"detail": detail, "rank": rank})

    def taxonomy(
        self, *, species: list[str] | None = None, locale: str | None = None
    ) -> list[dict[str, Any]]:
        """The eBird taxonomy as JSON (the endpoint's default is CSV, §1.8)."""
        params = {
            "fmt": "json",
            "species": ",".join(species) if species else None,
            "locale": locale,
        }
        return self._get_list("ref/taxonomy/ebird", params)

    def taxonomy_versions(self) -> list[dict[str, Any]]:
        return self._get_list("ref/taxonomy/versions")

    def hotspots(self, region: str, *, back: int | None = None) -> list[dict[str, Any]]:
        """Hotspots in a region as JSON (the endpoint's default is header-less CSV, §1.9)."""
        return self._get_list(f"ref/hotspot/{_seg(region)}", {"fmt": "json", "back": back})

    def region_info(self, region: str) -> dict[str, Any]:
        data = self.get_json(f"ref/region/info/{_seg(region)}")
        if not isinstance(data, dict):
            raise EbirdApiError(f"GET ref/region/info/{region}: expected a JSON object")
        return data


def _seg(value: str) -> str:
    """One path segment, escaped, so a region code can never add path components."""
    return quote(value, safe="")


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")
