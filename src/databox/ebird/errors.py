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


class EbirdSchemaChanged(EbirdError):
    """A record broke the raw tables' data contract: a field arrived with another data
    type than its column's (``howMany`` as the text ``"12"``, ``lat`` as a string), or
    a required field is missing. dlt's schema contract (``data_type: freeze``) stopped
    the run, so nothing of it was loaded; the message names the table, the column,
    the API field and the offending value."""

    def __init__(
        self,
        *,
        table: str,
        column: str,
        value: Any,
        field: str | None = None,
        expected: str | None = None,
        record: str | None = None,
        reason: str | None = None,
    ):
        self.table = table
        self.column = column
        self.value = value
        self.field = field
        self.expected = expected
        self.record = record
        self.reason = reason
        shown = "nothing (field missing)" if value is _MISSING else f"{_type_name(value)} {value!r}"
        where = f"{table}.{column}" + (f" (API field {field})" if field and field != column else "")
        what = "a required field is missing" if value is _MISSING else "data type changed"
        head = f"eBird {what} in {where}: expected {expected or 'its declared type'}, got {shown}"
        if record:
            head += f" in record {record}"
        if reason:
            head += f" [{reason}]"
        super().__init__(
            head + ". dlt's schema contract (data_type: freeze) stopped the run and nothing "
            "of it was loaded; the pending load package was dropped, so the next run starts "
            "clean. If the API really changed, update the column hints in "
            "src/databox/ebird/source.py."
        )

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes (Dagster)
        return (_rebuild_schema_changed, (self.__dict__.copy(),))


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"

    def __reduce__(self) -> str:
        return "_MISSING"


#: The value of a required field that was absent from the record.
_MISSING: Any = _Missing()
MISSING = _MISSING


def _type_name(value: Any) -> str:
    """The JSON type a Python value came as, in dlt's words (text, bigint, ...)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "null"
    if isinstance(value, (list, dict)):
        return "json"
    return type(value).__name__


def _rebuild_schema_changed(state: dict[str, Any]) -> EbirdSchemaChanged:
    keys = ("table", "column", "value", "field", "expected", "record", "reason")
    exc = EbirdSchemaChanged(**{k: state.get(k) for k in keys})
    exc.__dict__.update(state)
    return exc


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
