"""What the Telegram assets' modules share: group, pools, retry policy, markdown tables.

(``ebird_assets`` imports some of these from ``telegram_assets``, which re-exports them.)
"""

import dagster as dg

TELEGRAM_GROUP = "telegram"

# Transient failures (network, database restart) are retried with backoff; a
# permanent one (a channel without a preview, bad data) raises Failure(allow_retries=False).
TRANSIENT_RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)

#: Pool for the Telegram API (throttles scrapes across runs: `dagster/concurrency_key`).
TELEGRAM_POOL = "telegram_api"
#: Pool for steps that write the warehouse. DuckDB admits one writer process; the
#: shipped dagster.yaml limits every pool to 1 and the adapter also holds a file lock.
WAREHOUSE_POOL = "warehouse"


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        text = text.replace("\n", " ").replace("|", "\\|")
        return text[:80] + ("…" if len(text) > 80 else "")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
