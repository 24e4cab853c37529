"""eBird exceptions. Messages name the request (method and URL) and never contain the
API token: it only ever travels in a request header, which no message includes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from databox.errors import DataboxError

if TYPE_CHECKING:
    from databox.ebird.pipeline import EbirdLoadSummary


class EbirdError(DataboxError):
    """Base class of the eBird errors."""


class EbirdApiError(EbirdError):
    """A request failed: an error status (after the retries, for 429/5xx) or no
    response at all (``status`` None: connection refused, timeout)."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "GET",
        url: str = "",
        status: int | None = None,
        title: str | None = None,
    ):
        super().__init__(message)
        self.method = method
        #: The request URL, query included, without any credential.
        self.url = url
        self.status = status
        #: The ``title`` of the API's ``{"errors": [...]}`` body, when it sent one.
        self.title = title


class EbirdAuthError(EbirdApiError):
    """403: the token (EBIRD_API_TOKEN) is missing or invalid. Fatal for a whole run,
    since every region would fail the same way."""


class EbirdBadRequest(EbirdApiError):
    """400: the API rejected a parameter; the message carries the API's title, which
    names the field (e.g. ``regionCode``) and the value."""


@dataclass(frozen=True)
class RegionFailure:
    """One resource's request for one region that failed for good."""

    resource: str
    #: The region code, or None for a resource not split by region (taxonomy).
    region: str | None
    error: EbirdApiError

    def __str__(self) -> str:
        where = f"{self.resource}[{self.region}]" if self.region else self.resource
        return f"{where}: {self.error}"


class EbirdExtractFailed(EbirdError):
    """Some regions failed while the others were extracted (and, in ``run_ebird``,
    loaded). Raised *after* the load so a run fails loudly without losing the data
    that did arrive."""

    def __init__(
        self,
        failures: Sequence[RegionFailure],
        summary: EbirdLoadSummary | None = None,
    ):
        self.failures = tuple(failures)
        self.summary = summary
        regions = self.regions
        head = (
            f"eBird extraction failed for region(s) {', '.join(regions)}"
            if regions
            else "eBird extraction failed"
        )
        if summary is not None:
            head += f" (rows that did arrive were loaded: load ids {', '.join(summary.load_ids) or '-'})"
        super().__init__(head + ": " + "; ".join(str(f) for f in self.failures))

    @property
    def regions(self) -> list[str]:
        """The failed region codes, in first-failure order."""
        return list(dict.fromkeys(f.region for f in self.failures if f.region))

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes (Dagster)
        return (type(self), (self.failures, self.summary))
