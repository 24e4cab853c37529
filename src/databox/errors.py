"""Exceptions shared across the application.

Each carries enough context (file, record, request, channel) for the message alone
to tell a person what failed and where.
"""

from __future__ import annotations


class DataboxError(Exception):
    """Base class for every error the application raises on purpose."""


class ConfigError(DataboxError):
    """A setting is missing or malformed; the message names the variable."""


class ChannelUnavailable(DataboxError):
    """A Telegram channel cannot be read (no public preview, private, unknown)."""

    def __init__(self, channel: str, reason: str):
        super().__init__(f"channel {channel!r}: {reason}")
        self.channel = channel
        self.reason = reason


class InvalidRecord(DataboxError):
    """A record in the lake does not match the message schema."""
