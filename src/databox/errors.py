"""Exceptions shared across the application.

Each carries enough context (file, record, request, channel) for the message alone
to tell a person what failed and where.
"""

from __future__ import annotations


class DataboxError(Exception):
    """Base class for every error the application raises on purpose."""


class ConfigError(DataboxError):
    """A setting is missing or malformed; each message names the variable.

    Validation collects every problem before failing, so one run tells a person all
    that is wrong: ``ConfigError(*problems)`` holds one message per problem (the CLI
    prints each on its own line) and ``str()`` joins them with newlines.
    """

    def __init__(self, *problems: str):
        super().__init__(*problems)  # args = the problems, so pickling round-trips
        self.problems: tuple[str, ...] = tuple(str(p) for p in problems)

    def __str__(self) -> str:
        return "\n".join(self.problems)


class WarehouseUnavailable(DataboxError):
    """The warehouse cannot be opened right now (server down, file held by another
    program). The message names the URL (password masked), where it tried and why."""


class ChannelUnavailable(DataboxError):
    """A Telegram channel cannot be read (no public preview, private, unknown)."""

    def __init__(self, channel: str, reason: str):
        super().__init__(f"channel {channel!r}: {reason}")
        self.channel = channel
        self.reason = reason


class InvalidRecord(DataboxError):
    """A record in the lake does not match the message schema."""
