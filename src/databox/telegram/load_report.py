"""What one ``load_raw_messages`` run did, and whether the raw layer is clean."""

from __future__ import annotations

from dataclasses import dataclass, field

from databox.telegram.load_errors import LoadError


@dataclass
class LoadReport:
    files_seen: int = 0
    files_loaded: int = 0  # parsed and upserted (possibly with bad records)
    files_skipped: int = 0  # unchanged: same size+mtime, or same sha256
    files_failed: int = 0  # not a JSON array: quarantined
    rows_in_files: int = 0  # records in the files parsed this run
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_rejected: int = 0  # records that failed validation this run (see errors)
    rows_superseded: int = 0  # same message twice in one file: the older copy
    per_channel: dict[str, int] = field(default_factory=dict)  # rows inserted + updated
    #: Every open problem after the run: the ones this run found, then the ones earlier
    #: runs found in files that have not changed since (``LoadError.earlier``). A file
    #: is not re-read while unchanged, but its problems are not gone.
    errors: list[LoadError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unresolved_errors(self) -> int:
        """Unresolved rows in raw.load_errors after the run."""
        return len(self.errors)

    @property
    def ok(self) -> bool:
        """No open problem, whichever run found it (the Dagster check agrees)."""
        return not self.errors

    @property
    def new_errors(self) -> list[LoadError]:
        """The problems this run found (or found again in bytes seen before)."""
        return [e for e in self.errors if not e.earlier]

    @property
    def earlier_errors(self) -> list[LoadError]:
        """Open problems of earlier runs, in files unchanged since."""
        return [e for e in self.errors if e.earlier]

    def summary(self) -> str:
        found = len(self.new_errors)
        if not self.errors:
            problems = "no unresolved load errors"
        else:
            problems = (
                f"{self.unresolved_errors} unresolved load errors ({found} found this run, "
                f"{self.unresolved_errors - found} from earlier runs; see raw.load_errors)"
            )
        return (
            f"{self.files_loaded} files loaded, {self.files_skipped} unchanged, "
            f"{self.files_failed} failed of {self.files_seen}; rows: {self.rows_inserted} new, "
            f"{self.rows_updated} updated, {self.rows_unchanged} unchanged, "
            f"{self.rows_rejected} rejected; {problems} in {self.seconds:.2f} s"
        )
