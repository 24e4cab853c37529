"""``scrape_telegram`` as a graph: one step per channel, so channels scrape in parallel
on as many workers as the executor has (bounded by the ``telegram_api`` pool).

plan_channels ──DynamicOutput per channel──▶ scrape_channel (pool telegram_api) ──▶
collect_scrape (the asset's metadata; fails with the same summary as one-step scraping)

A channel step never fails on its channel's error: it retries a transient one itself
(``RetryRequested``, TRANSIENT_RETRY's schedule) and otherwise returns the failed result,
so the collect step can say truthfully what failed and what was scraped.
"""

import re
import time

import dagster as dg

from orchestration.resources import DataLakeResource, TelegramResource
from orchestration.telegram_shared import (
    TELEGRAM_GROUP,
    TELEGRAM_POOL,
    TRANSIENT_RETRY,
    markdown_table,
)


def _mapping_keys(channels: list[str]) -> list[str]:
    """Step-key-safe, unique keys that still read as the channel (usernames already do)."""
    keys: list[str] = []
    for i, channel in enumerate(channels):
        key = re.sub(r"[^A-Za-z0-9_]", "_", channel) or "channel"
        keys.append(key if key not in keys else f"{key}_{i}")
    return keys


@dg.op(
    out={"plan": dg.Out(dict), "channels": dg.DynamicOut(str)},
    description="One scrape step per configured channel (TELEGRAM_CHANNELS).",
)
def plan_channels(
    context: dg.OpExecutionContext, telegram: TelegramResource, lake: DataLakeResource
):
    settings = telegram.settings(lake)
    channels = list(settings.telegram_channels)
    web = None if settings.telethon_configured else settings.telegram_web_base_url
    context.log.info(
        f"scraping {len(channels)} channels via {'Telethon' if web is None else web + '/s/'}"
    )
    yield dg.Output(
        {
            "channels": channels,
            "source": "web" if web is not None else "telethon",
            "base_url": web,
            "started": time.time(),
        },
        "plan",
    )
    for key, channel in zip(_mapping_keys(channels), channels, strict=True):
        yield dg.DynamicOutput(channel, mapping_key=key, output_name="channels")


def _permanent(report) -> bool:
    """A channel that cannot be read stays unreadable on retry, a changed page layout
    does not change back, and a host that does not resolve or refuses connections
    within TRANSIENT_RETRY's 10-30 s (the HTTP layer already retried once) neither:
    retrying would only make an offline run wait ~3x as long before saying so."""
    from databox.errors import ChannelUnavailable

    return report.unreachable or all(
        any(name in (c.error or "") for name in (ChannelUnavailable.__name__, "WebLayoutError"))
        for c in report.failed
    )


@dg.op(pool=TELEGRAM_POOL, retry_policy=TRANSIENT_RETRY, out=dg.Out(dg.Any))
def scrape_channel(
    context: dg.OpExecutionContext, channel: str, telegram: TelegramResource, lake: DataLakeResource
):
    """One channel: pending photos retried, then everything above its watermark."""
    from databox.telegram.scrape import scrape_channels

    settings = telegram.settings(lake)
    data_lake = lake.lake()
    data_lake.warn = context.log.warning  # recoveries from damaged state files, in the run log
    report = scrape_channels(settings, data_lake, channels=[channel], log=context.log.info)
    if (
        not report.ok
        and not _permanent(report)
        and context.retry_number < TRANSIENT_RETRY.max_retries
    ):
        raise dg.RetryRequested(
            max_retries=TRANSIENT_RETRY.max_retries,
            seconds_to_wait=TRANSIENT_RETRY.delay * 2**context.retry_number,
        )
    [result] = report.channels
    return dg.Output(
        report,
        metadata={"new_posts": result.posts, "images": result.images, "error": result.error or ""},
    )


@dg.op(description="The channels' results as the asset's metadata; fails if any channel did.")
def collect_scrape(
    context: dg.OpExecutionContext, plan: dict, reports: list, lake: DataLakeResource
):
    from databox.telegram.scrape import merge_reports

    order = {c: i for i, c in enumerate(plan["channels"])}
    reports = sorted(reports, key=lambda r: order.get(r.channels[0].channel, len(order)))
    report = merge_reports(
        reports,
        source=plan["source"],
        base_url=plan["base_url"],
        seconds=time.time() - plan["started"],
    )
    rows = [
        {
            "channel": c.channel,
            # Service messages (channel created, pinned, ...) are kept but are not posts.
            "new_posts": c.posts,
            "service_messages": c.service_messages,
            "images": c.images,
            "photos_failed": c.photos_failed,
            "photos_pending": c.photos_pending,
            "watermark": f"{c.watermark_before} → {c.watermark_after}",
            "seconds": round(c.seconds, 2),
            "error": c.error,
        }
        for c in report.channels
    ]
    metadata = {
        "source": report.source,
        "new_posts": report.posts,
        "new_service_messages": report.service_messages,
        "new_images": report.images,
        "photos_failed": report.photos_failed,
        "photos_pending": report.photos_pending,
        "seconds": round(report.seconds, 2),
        "channels": dg.MetadataValue.md(markdown_table(rows, list(rows[0]) if rows else [])),
        "lake": dg.MetadataValue.path(str(lake.lake().root)),
        **{f"posts/{c.channel}": c.posts for c in report.channels},
    }
    if report.photos_pending:
        context.log.warning(
            f"{report.photos_pending} photo(s) could not be downloaded; their messages are in "
            "the lake with photo_status/photo_errors and the next runs retry them"
        )
    if not report.ok:
        # The channel steps already retried what a retry could fix.
        description = report.failure_summary()
        if not report.all_failed:
            description += " They load into the warehouse on the next run."
        if report.hint:
            description += f" {report.hint}"
        raise dg.Failure(description=description, metadata=metadata, allow_retries=False)
    return dg.Output(None, metadata=metadata)


@dg.graph_asset(
    group_name=TELEGRAM_GROUP,
    kinds={"python", "telegram"},
    description=(
        "New messages and photos of each configured Telegram channel, scraped into the "
        "data lake (raw/telegram_messages/YYYY-MM-DD/<channel>.json, raw/images/…) "
        "above each channel's watermark: posts of every kind (text, photos, albums, videos, "
        "voice, stickers, polls, locations, ...) and service messages (kept, never counted "
        "as posts). Photos that fail to download are recorded on their message and retried. "
        "One step per channel (pool telegram_api), so workers scrape channels in parallel."
    ),
)
def scrape_telegram():
    plan, channels = plan_channels()
    return collect_scrape(plan=plan, reports=channels.map(scrape_channel).collect())
